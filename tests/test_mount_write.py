"""Changing the store through the mount: one rule of issue 3 per test, each checked in the
store through its Python API after the accepted and the refused operations."""

from __future__ import annotations

import itertools
import json

import pytest
from mount_helpers import (
    DIGEST_A,
    DIGEST_B,
    MANIFEST,
    NS,
    SPEC,
    container,
    eventually,
    image,
    make_container,
    make_image,
)

from metafs import Images, Runtime

_counter = itertools.count()


@pytest.fixture(scope="module")
def env(mount_factory):
    return mount_factory()


@pytest.fixture
def mnt(env):
    return env[0]


@pytest.fixture
def store(env):
    return env[1]


@pytest.fixture
def img(store):
    """A fresh image for one test; its directory relative to the mount point."""
    name = f"example.com/app/t{next(_counter)}:1"
    make_image(store, name, {"env": "prod", "tier": "web"})
    return name, "images/" + name.replace("/", "%2F")


@pytest.fixture
def ctr(store):
    cid = f"c{next(_counter)}"
    make_container(store, cid, image="example.com/app:1", labels={"env": "prod"})
    return cid, f"containers/{cid}"


def refused(result, message: str) -> None:
    assert result.returncode != 0, result
    assert message in result.stderr, result.stderr


def test_echo_stores_the_value_without_its_newline(mnt, store, img):
    name, d = img
    mnt.sh(f"echo {DIGEST_B} > {d}/digest", check=True)
    assert image(store, name).target.digest == DIGEST_B
    # without a newline the value is complete only at the release, just after close()
    mnt.sh(f"printf %s application/x-test > {d}/mediatype", check=True)
    eventually(lambda: image(store, name).target.media_type, "application/x-test")
    mnt.sh(f"echo 42 > {d}/size", check=True)
    assert image(store, name).target.size == 42


def test_cat_prints_value_and_one_newline_and_st_size_is_exact(mnt, store, img):
    name, d = img
    stored = image(store, name)
    out = mnt.sh(f"cat {d}/digest {d}/size {d}/labels/env", check=True).stdout
    assert out == f"{DIGEST_A}\n1234\nprod\n"
    sizes = mnt.sh(f"stat -c %s {d}/digest {d}/mediatype {d}/updatedat", check=True).stdout
    assert sizes.split() == [
        str(len(DIGEST_A) + 1),
        str(len(MANIFEST) + 1),
        str(len(mnt.sh(f"cat {d}/updatedat").stdout)),
    ]
    mtime = mnt.sh(f"stat -c %.9Y {d}/digest", check=True).stdout.strip()
    assert int(mtime.replace(".", "")) == stored.updated_at


def test_bad_value_fails_the_write_with_einval_and_changes_nothing(mnt, store, img):
    name, d = img
    before = image(store, name)
    for field, bad in [
        ("digest", "bad"),
        ("digest", "sha256:abc"),
        ("size", "0"),
        ("size", "-1"),
        ("size", "12x"),
        ("mediatype", ""),
    ]:
        result = mnt.sh(f"echo '{bad}' > {d}/{field}")
        assert result.returncode == 1, (field, bad)
        assert "write error: Invalid argument" in result.stderr
        assert image(store, name) == before
    assert mnt.sh(f"cat {d}/digest").stdout == DIGEST_A + "\n"


def test_value_written_in_chunks_is_one_transaction(mnt, store, img):
    """printf and cp may write a value in several write() calls (at offsets 0, 1, ...)."""
    name, d = img
    script = (
        "import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY|os.O_TRUNC); "
        'os.write(fd, b"s"); os.write(fd, sys.argv[2].encode()[1:]); os.close(fd)'
    )
    generation = store.generation()
    mnt.sh(f"python3 -c '{script}' {d}/digest '{DIGEST_B}'", check=True)
    # no newline: stored when the file is released, just after close() has returned
    eventually(lambda: image(store, name).target.digest, DIGEST_B)
    assert store.generation() == generation + 1
    mnt.sh(f"printf '%s\\n' 777 > {d}/size", check=True)
    assert image(store, name).target.size == 777


def test_incomplete_value_at_close_is_dropped_and_logged(mnt, store, img):
    """A viable prefix of a value waits for more; still incomplete when the file is released
    (there is no flush, so close() has returned), it is dropped and the log says why."""
    name, d = img
    before = image(store, name)
    generation = store.generation()
    assert mnt.sh(f"/bin/echo -n sha256:abc > {d}/digest").returncode == 0
    line = f"images/{name}/digest: a value left incomplete at close was not stored"
    eventually(lambda: line in mnt.log.read_text(), True)
    assert image(store, name) == before and store.generation() == generation
    assert mnt.sh(f"cat {d}/digest").stdout == DIGEST_A + "\n"


def test_spec_by_tee_cp_and_cat_redirect(mnt, store, ctr, tmp_path):
    cid, d = ctr
    big = {"ociVersion": "1.1.0", "annotations": {f"k{i}": "v" * 100 for i in range(3000)}}
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(big, indent=2) + "\n")  # ~330 KB: many write() calls
    for command in (
        f"cp {spec_file} {d}/spec",
        f"cat {spec_file} > {d}/spec",
        f"tee {d}/spec < {spec_file} > /dev/null",
    ):
        mnt.sh(f"echo '{{}}' > {d}/spec", check=True)
        generation = store.generation()
        mnt.sh(command, check=True)
        assert json.loads(container(store, cid).spec.value) == big, command
        assert store.generation() == generation + 1, command
    assert json.loads(mnt.sh(f"cat {d}/spec").stdout) == big


def test_bad_spec_fails_the_write(mnt, store, ctr):
    cid, d = ctr
    before = container(store, cid)
    for bad in ("[1, 2]", "not json", '{"a": 1} {"b": 2}'):
        result = mnt.sh(f"echo '{bad}' > {d}/spec")
        assert result.returncode == 1 and "write error: Invalid argument" in result.stderr
        assert container(store, cid) == before
    mnt.sh(f"/bin/echo '{{\"a\": ' > {d}/spec")  # incomplete JSON: dropped at release
    eventually(lambda: "spec is not valid JSON" in mnt.log.read_text(), True)
    assert container(store, cid) == before
    assert mnt.sh(f"cat {d}/spec").stdout == SPEC.decode() + "\n"


def test_container_fields(mnt, store, ctr):
    cid, d = ctr
    mnt.sh(f"echo docker.io/library/redis:7 > {d}/image", check=True)
    assert container(store, cid).image == "docker.io/library/redis:7"
    before = container(store, cid)
    refused(mnt.sh(f"echo key-1 > {d}/snapshotkey"), "Invalid argument")  # needs a snapshotter
    assert container(store, cid) == before
    mnt.sh(f"echo overlayfs > {d}/snapshotter && echo key-1 > {d}/snapshotkey", check=True)
    got = container(store, cid)
    assert (got.snapshotter, got.snapshot_key) == ("overlayfs", "key-1")
    mnt.sh(f"mv {d}/labels/env {d}/labels/where && echo 1 > {d}/labels/n", check=True)
    assert container(store, cid).labels == {"where": "prod", "n": "1"}


def test_read_only_fields_are_eperm_even_for_root(mnt, store, img, ctr):
    name, d = img
    cid, c = ctr
    before_image, before_container = image(store, name), container(store, cid)
    for path in (f"{d}/createdat", f"{d}/updatedat", f"{c}/createdat", f"{c}/runtime"):
        refused(mnt.sh(f"echo 2020-01-01T00:00:00Z > {path}"), "Operation not permitted")
    assert mnt.sh(f"stat -c %a {d}/createdat {c}/runtime {c}/snapshotter").stdout.split() == [
        "444",
        "444",
        "644",
    ]
    mnt.sh(f"echo native > {c}/snapshotter", check=True)  # fixed once set
    refused(mnt.sh(f"echo overlayfs > {c}/snapshotter"), "Operation not permitted")
    assert image(store, name) == before_image
    after = container(store, cid)
    assert after.snapshotter == "native" and after.runtime == before_container.runtime


def test_test_w_tells_what_a_write_would_do(mnt, img, ctr):
    """The daemon answers access(2) by the mode bits it shows (the kernel does not check
    them): a read-only field is not writable, even for root, as in sysfs."""
    _, d = img
    _, c = ctr
    mnt.sh(f"echo native > {c}/snapshotter", check=True)  # fixed once set
    expected = {
        f"-w {d}/createdat": False,
        f"-w {c}/runtime": False,
        f"-w {c}/snapshotter": False,
        f"-w {d}/digest": True,
        f"-w {d}/labels/env": True,
        f"-w {c}/image": True,
        f"-r {d}/createdat": True,
        f"-x {d}/digest": False,
        f"-x {d}/labels": True,
        f"-w {d}/labels": True,
        "-w images": True,
    }
    got = {test: mnt.sh(f"test {test}").returncode == 0 for test in expected}
    assert got == expected


def test_labels_are_files(mnt, store, img):
    name, d = img
    mnt.sh(f"echo blue > {d}/labels/color", check=True)
    assert image(store, name).labels == {"env": "prod", "tier": "web", "color": "blue"}
    assert mnt.sh(f"ls {d}/labels").stdout.split() == ["color", "env", "tier"]
    mnt.sh(f"rm {d}/labels/color", check=True)
    assert "color" not in image(store, name).labels
    refused(mnt.sh(f"rm {d}/labels/color"), "No such file or directory")
    mnt.sh(f"mv {d}/labels/env {d}/labels/stage", check=True)
    assert image(store, name).labels == {"stage": "prod", "tier": "web"}
    mnt.sh(f"echo > {d}/labels/tier", check=True)  # an empty value removes, as in containerd
    assert image(store, name).labels == {"stage": "prod"}
    before = image(store, name)
    result = mnt.sh(f"printf '%5000s' x > {d}/labels/big")
    assert result.returncode == 1 and "Invalid argument" in result.stderr  # key+value > 4096
    assert image(store, name) == before
    refused(mnt.sh(f"cat {d}/labels/big"), "No such file or directory")


def test_sed_in_place_on_a_label(mnt, store, img):
    """sed -i writes a temp file (a label for a moment) and renames it over the target."""
    name, d = img
    mnt.sh(f"sed -i s/prod/staging/ {d}/labels/env", check=True)
    assert image(store, name).labels == {"env": "staging", "tier": "web"}


def test_unlinking_a_field_is_eperm(mnt, store, img, ctr):
    name, d = img
    before = image(store, name)
    for field in ("digest", "mediatype", "size", "createdat"):
        refused(mnt.sh(f"rm -f {d}/{field}"), "Operation not permitted")
    refused(mnt.sh(f"rm -f {ctr[1]}/spec"), "Operation not permitted")
    assert image(store, name) == before


def test_mkdir_image_is_a_draft_until_its_target_is_complete(mnt, store):
    mnt.sh("mkdir images/draft.example%2Fapp:1", check=True)
    name = "draft.example/app:1"
    with store.read() as tx:
        assert Images(tx, NS).is_draft(name) and not Images(tx, NS).exists(name)
    assert "draft.example%2Fapp:1" in mnt.sh("ls images").stdout.split()
    assert mnt.sh("cat images/draft.example%2Fapp:1/digest").stdout == "\n"
    mnt.sh(
        f"cd images/draft.example%2Fapp:1 && echo {MANIFEST} > mediatype && echo 99 > size",
        check=True,
    )
    mnt.sh(
        "cd images/draft.example%2Fapp:1 && echo a > labels/x && setfattr -n user.y -v b .",
        check=True,
    )
    with store.read() as tx:
        assert Images(tx, NS).is_draft(name)
        assert Images(tx, NS).draft(name).labels == {"x": "a", "y": "b"}
    mnt.sh(f"echo {DIGEST_B} > images/draft.example%2Fapp:1/digest", check=True)
    with store.read() as tx:
        images = Images(tx, NS)
        assert images.exists(name) and not images.is_draft(name)
        assert images.get(name).target.digest == DIGEST_B
        assert images.get(name).labels == {"x": "a", "y": "b"}


def test_mkdir_container_gets_default_runtime_and_empty_spec(mnt, store):
    mnt.sh("mkdir containers/fresh-1", check=True)
    got = container(store, "fresh-1")
    assert got.runtime == Runtime("io.containerd.runc.v2") and got.spec.value == b"{}"
    assert mnt.sh("cat containers/fresh-1/spec containers/fresh-1/runtime").stdout == (
        "{}\nio.containerd.runc.v2\n"
    )


def test_mkdir_refusals(mnt, store, img, ctr):
    refused(mnt.sh("mkdir containers/bad..id"), "Invalid argument")
    assert container(store, "bad..id") is None
    refused(mnt.sh(f"mkdir {ctr[1]}"), "File exists")
    refused(mnt.sh(f"mkdir {img[1]}"), "File exists")
    refused(mnt.sh("mkdir images/100%"), "Invalid argument")  # not an escaped name
    refused(mnt.sh(f"mkdir {img[1]}/extra"), "Operation not permitted")
    refused(mnt.sh("mkdir toplevel"), "Operation not permitted")
    refused(mnt.sh(f"touch {img[1]}/newfield"), "Operation not permitted")


def test_rmdir_deletes_the_whole_object_in_one_transaction(mnt, store, img, ctr):
    name, d = img
    generation = store.generation()
    mnt.sh(f"rmdir {d}", check=True)
    assert image(store, name) is None and store.generation() == generation + 1
    mnt.sh(f"rmdir {ctr[1]}", check=True)
    assert container(store, ctr[0]) is None
    refused(mnt.sh(f"rmdir {d}"), "No such file or directory")
    mnt.sh("mkdir images/gone && rmdir images/gone", check=True)  # a draft
    assert image(store, "gone") is None


def test_rmdir_of_fixed_directories_is_eperm(mnt, store, img):
    refused(mnt.sh(f"rmdir {img[1]}/labels"), "Operation not permitted")
    assert image(store, img[0]).labels == {"env": "prod", "tier": "web"}


def test_mv_renames_an_image(mnt, store, img):
    name, d = img
    before = image(store, name)
    mnt.sh(f"mv {d} images/renamed%2Fone:2", check=True)
    after = image(store, "renamed/one:2")
    assert image(store, name) is None
    assert after.target == before.target and after.created_at == before.created_at
    assert mnt.sh("cat images/renamed%2Fone:2/labels/env").stdout == "prod\n"
    other = f"example.com/other{next(_counter)}"
    make_image(store, other)
    refused(
        mnt.sh(f"mv -T images/renamed%2Fone:2 images/{other.replace('/', '%2F')}"), "File exists"
    )
    assert image(store, "renamed/one:2") == after
    mnt.sh("mv images/renamed%2Fone:2 images/renamed-back", check=True)


def test_labels_the_kernel_holds_follow_their_image_through_mv(mnt, store, img):
    name, d = img
    mnt.sh(f"cat {d}/labels/env", check=True)  # the kernel now holds the label's inode
    mnt.sh(f"mv {d} images/moved-with-labels:1", check=True)
    mnt.sh("echo staging > images/moved-with-labels:1/labels/env", check=True)
    assert image(store, "moved-with-labels:1").labels["env"] == "staging"
    assert mnt.sh("cat images/moved-with-labels:1/labels/env").stdout == "staging\n"


def test_mv_of_containers_and_across_directories_is_eperm(mnt, store, img, ctr):
    refused(mnt.sh(f"mv {ctr[1]} containers/moved"), "Operation not permitted")
    assert container(store, ctr[0]) is not None
    refused(mnt.sh(f"mv -T {img[1]}/labels/env {ctr[1]}/labels/env"), "Operation not permitted")
    assert image(store, img[0]).labels["env"] == "prod"


def test_labels_are_extended_attributes(mnt, store, img):
    name, d = img
    out = mnt.sh(f"getfattr -d {d}", check=True).stdout
    assert 'user.env="prod"' in out and 'user.tier="web"' in out
    mnt.sh(f"setfattr -n user.owner -v team-a {d}", check=True)
    assert image(store, name).labels["owner"] == "team-a"
    assert mnt.sh(f"cat {d}/labels/owner").stdout == "team-a\n"
    mnt.sh(f"setfattr -x user.env {d}", check=True)
    assert "env" not in image(store, name).labels
    before = image(store, name)
    refused(mnt.sh(f"getfattr -n user.env {d}"), "No such attribute")
    refused(mnt.sh(f"setfattr -x user.env {d}"), "No such attribute")
    refused(mnt.sh(f"setfattr -n trusted.x -v 1 {d}"), "Operation not supported")
    assert image(store, name) == before


def test_chmod_chown_link_symlink_mknod_are_eperm(mnt, store, img):
    name, d = img
    before = image(store, name)
    for command in (
        f"chmod 600 {d}/digest",
        f"chown 1:1 {d}/digest",
        f"ln {d}/digest x",
        f"ln -s {d}/digest {d}/labels/link",
        f"mknod {d}/labels/node p",
    ):
        refused(mnt.sh(command), "Operation not permitted")
    mnt.sh(f"chmod 644 {d}/digest && touch {d}/digest", check=True)  # changes nothing: allowed
    assert image(store, name) == before


def test_missing_paths_are_enoent(mnt):
    for command in ("cat images/nope/digest", "ls containers/nope", "cat images/%2E/size"):
        refused(mnt.sh(command), "No such file or directory")


def test_a_read_right_after_a_write_sees_the_new_value(mnt, store, img):
    """The old value may sit in the page cache; a write through the mount must not leave it."""
    name, d = img
    script = f"""
    bad=0
    for i in $(seq 60); do
        echo v$i > {d}/labels/env; [ "$(cat {d}/labels/env)" = v$i ] || bad=$((bad+1))
        echo $((i * 100)) > {d}/size; [ "$(cat {d}/size)" = $((i * 100)) ] || bad=$((bad+1))
    done
    echo $bad
    """
    assert mnt.sh(script).stdout == "0\n"
    assert image(store, name).labels["env"] == "v60" and image(store, name).target.size == 6000


READ_AFTER_CHANGE = """
import os, subprocess, sys

d, change = sys.argv[1], sys.argv[2]
label = os.path.join(d, "labels", "k")
bad = 0
for i in range(50):
    old, new = f"o{i}-".encode() * 750, f"n{i}-".encode() * 1000  # 3,000 and 4,000 bytes
    fd = os.open(label, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.write(fd, old + b"\\n")
    os.close(fd)
    fd = os.open(label, os.O_RDONLY)
    assert os.read(fd, 8192) == old + b"\\n"
    os.close(fd)
    if change == "setfattr":
        os.setxattr(d, b"user.k", new)
    else:
        if change == "removexattr":
            os.removexattr(d, b"user.k")
            try:
                fd = os.open(label, os.O_RDONLY)
                try:
                    bad += os.pread(fd, 533, 1586) != b""  # the old bytes: wrong
                finally:
                    os.close(fd)
            except FileNotFoundError:
                pass
        elif change == "rm":
            os.unlink(label)
        target = os.path.join(d, "labels", "m") if change == "mv" else label
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.write(fd, new + b"\\n")
        os.close(fd)
        if change == "mv":
            os.rename(target, label)
    fd = os.open(label, os.O_RDONLY)
    got = os.pread(fd, 533, 1586)
    os.close(fd)
    bad += got != new[1586:2119]
print(bad)
"""


@pytest.mark.parametrize("change", ["setfattr", "echo", "mv", "removexattr", "rm"])
def test_a_read_at_an_offset_after_a_label_changes_sees_the_new_value(mnt, store, img, change):
    """A label read just before it changes sits in the page cache: whatever changes it (its
    file, its attribute, a rename onto it, a removal), the next read, at once, must not see
    the old bytes, even at an offset both values cover (issue 19)."""
    name, d = img
    done = mnt.sh(f"python3 -c '{READ_AFTER_CHANGE}' {d} {change}")
    assert (done.stdout, done.stderr) == ("0\n", "")
    assert image(store, name).labels["k"] == "n49-" * 1000
