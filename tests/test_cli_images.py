"""`metafs images ls|put|tag|rm|label` in subprocesses, against a new store on each engine."""

from __future__ import annotations

import json

import pytest
from cli_helpers import DIGEST, MANIFEST, OTHER_DIGEST, fails, metafs, ok

from metafs import Descriptor, Image, Images, Store

ALPINE = "docker.io/library/alpine:3.19"
HEADER = "REF TYPE DIGEST SIZE PLATFORMS LABELS \n"


def read(store, name, namespace="default"):
    with Store.open(store, readonly=True) as opened, opened.read() as tx:
        return Images(tx, namespace).get(name)


def names(store, namespace="default"):
    with Store.open(store, readonly=True) as opened, opened.read() as tx:
        return list(Images(tx, namespace).names())


@pytest.fixture
def store(new_store):
    path = new_store()
    with Store.open(path) as opened, opened.write() as tx:
        Images(tx, "default").create(
            Image(ALPINE, Descriptor(MANIFEST, DIGEST, 405, {"org.opencontainers.x": "1"}),
                  {"team": "core", "env": "prod"})
        )  # fmt: skip
    return path


def test_ls_prints_ctr_columns_with_the_target_size(store):
    out = ok(store, "images", "ls")
    # each column as wide as its widest cell plus one space, every cell padded (tab-terminated)
    widths = [len(ALPINE) + 1, len(MANIFEST) + 1, len(DIGEST) + 1, 8, 10, 19]
    header = ["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"]
    row = [ALPINE, MANIFEST, DIGEST, "405.0 B", "-", "env=prod,team=core"]
    assert out == "".join(
        "".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) + "\n"
        for line in (header, row)
    )


def test_ls_quiet_and_an_empty_namespace(store):
    assert ok(store, "images", "ls", "-q") == f"{ALPINE}\n"
    assert ok(store, "-n", "nothing-here", "images", "ls") == HEADER
    assert ok(store, "-n", "nothing-here", "images", "ls", "-q") == ""


def test_ls_json(store):
    [image] = json.loads(ok(store, "images", "ls", "--format", "json"))
    stored = read(store, ALPINE)
    assert image == {
        "Name": ALPINE,
        "Labels": {"env": "prod", "team": "core"},
        "Target": {
            "mediaType": MANIFEST,
            "digest": DIGEST,
            "size": 405,
            "annotations": {"org.opencontainers.x": "1"},
        },
        "CreatedAt": image["CreatedAt"],
        "UpdatedAt": image["UpdatedAt"],
    }
    assert image["CreatedAt"].endswith("Z") and stored.created_at > 0
    assert json.loads(ok(store, "-n", "empty", "images", "ls", "--format", "json")) == []


def test_ls_and_put_of_a_store_that_does_not_exist(new_store):
    missing = new_store("missing")
    assert fails(missing, "images", "ls") == f'metafs: store "{missing}": not found'
    line = fails(missing, "images", "put", "a:1", "--digest", DIGEST, "--size", "1")
    assert line.startswith(f'metafs: store "{missing}" (to make a new store there, ')
    assert line.endswith("): not found")  # and fails() saw that it was not made


def test_help_says_size_is_the_target_size(tmp_path):
    result = metafs(tmp_path, "images", "ls", "--help")
    assert result.returncode == 0
    assert "SIZE is the size of the" in " ".join(result.stdout.split())
    assert "labels.KEY" in result.stdout


def test_put_creates_then_updates_the_target_only(store):
    assert ok(store, "images", "put", "x:1", "--digest", DIGEST, "--size", "12") == "x:1\n"
    created = read(store, "x:1")
    assert (created.target.media_type, created.target.size) == (MANIFEST, 12)
    ok(store, "images", "label", "x:1", "keep=me")
    index = "application/vnd.oci.image.index.v1+json"
    ok(store, "images", "put", "x:1", "--digest", OTHER_DIGEST, "--size", "99",
       "--media-type", index)  # fmt: skip
    updated = read(store, "x:1")
    assert updated.target == Descriptor(index, OTHER_DIGEST, 99)
    assert updated.labels == {"keep": "me"}
    assert updated.created_at == created.created_at < updated.updated_at


def test_put_with_labels(store):
    ok(store, "images", "put", "y:1", "--digest", DIGEST, "--size", "1",
       "--label", "a=1", "--label", "flag", "--label", "gone=")  # fmt: skip
    assert read(store, "y:1").labels == {"a": "1", "flag": "true"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--digest", "sha256:abc", "--size", "1"], "digest"),
        (["--digest", "md5:" + "0" * 32, "--size", "1"], "unsupported algorithm"),
        (["--digest", DIGEST, "--size", "0"], "size must be greater than zero"),
        (["--digest", DIGEST, "--size", "1", "--media-type", ""], "media type"),
        (["--digest", DIGEST, "--size", "1", "--label", "=v"], "label key"),
        (["--digest", DIGEST, "--size", "1", "--label", "k=" + "v" * 5000], "label key and value"),
    ],
)
def test_put_refuses_invalid_targets(store, args, message):
    assert message in fails(store, "images", "put", "bad:1", *args)


def test_put_needs_digest_and_size(store):
    line = fails(store, "images", "put", "bad:1", "--size", "1", status=2)
    assert "--digest" in line and "images put" in line
    assert "invalid int" in fails(store, "images", "put", "b", "--digest", DIGEST, "--size",
                                  "many", status=2)  # fmt: skip


def test_writes_check_the_namespace_name(store):
    line = fails(store, "-n", "bad name", "images", "put", "a", "--digest", DIGEST, "--size", "1")
    assert "namespace" in line


def test_tag_copies_target_labels_and_annotations(store):
    assert ok(store, "images", "tag", ALPINE, "a:1", "b:2") == "a:1\nb:2\n"
    source = read(store, ALPINE)
    for name in ("a:1", "b:2"):
        copy = read(store, name)
        assert copy.target == source.target
        assert copy.labels == source.labels
        assert copy.created_at > source.created_at
    assert names(store) == ["a:1", "b:2", ALPINE]  # bytewise, as bolt orders them


def test_tag_refuses_an_existing_target_and_changes_nothing(store):
    ok(store, "images", "tag", ALPINE, "a:1")
    ok(store, "images", "label", "a:1", "mine=yes")
    line = fails(store, "images", "tag", ALPINE, "new:1", "a:1")
    assert '"a:1"' in line and "already exists" in line
    assert "new:1" not in names(store)


def test_tag_force_replaces_by_delete_and_create(store):
    ok(store, "images", "put", "a:1", "--digest", OTHER_DIGEST, "--size", "7", "--label", "x=y")
    before = read(store, "a:1")
    assert ok(store, "images", "tag", "--force", ALPINE, "a:1") == "a:1\n"
    after = read(store, "a:1")
    assert after.target == read(store, ALPINE).target
    assert after.labels == {"team": "core", "env": "prod"}
    assert after.created_at > before.created_at


def test_tag_of_a_missing_source(store):
    assert "not found" in fails(store, "images", "tag", "nope:1", "a:1")
    assert "required" in fails(store, "images", "tag", ALPINE, status=2)


def test_rm_prints_what_it_removed_and_warns_about_missing_names_as_ctr(store):
    ok(store, "images", "tag", ALPINE, "a:1", "b:1", "c:1")
    done = metafs(store, "images", "rm", "a:1", "nope:1", "b:1", "a:1")
    assert (done.returncode, done.stdout) == (0, "a:1\nb:1\n")
    assert done.stderr == 'metafs: warning: image "nope:1" in namespace "default": not found\n'
    assert names(store) == ["c:1", ALPINE]
    assert "invalid argument" in fails(store, "-n", "bad ns", "images", "rm", "c:1")
    assert "required" in fails(store, "images", "rm", status=2)
    assert names(store) == ["c:1", ALPINE]


def test_label_sets_true_and_removes_as_ctr(store):
    out = ok(store, "images", "label", ALPINE, "new=1", "flag", "env=", "eq=a=b")
    assert out == "eq=a=b,flag=true,new=1,team=core\n"
    assert read(store, ALPINE).labels == {"team": "core", "new": "1", "flag": "true", "eq": "a=b"}
    assert ok(store, "images", "label", ALPINE) == "eq=a=b,flag=true,new=1,team=core\n"


def test_label_replace_all(store):
    assert ok(store, "images", "label", "-r", ALPINE, "only=this", "gone=") == "only=this\n"
    assert read(store, ALPINE).labels == {"only": "this"}


def test_label_errors(store):
    assert "not found" in fails(store, "images", "label", "nope:1", "a=b")
    assert "label key" in fails(store, "images", "label", ALPINE, "=v")
    assert "maximum size" in fails(store, "images", "label", ALPINE, "k=" + "x" * 4096)


def test_aliases(store):
    assert ok(store, "image", "list", "-q") == ok(store, "i", "ls", "-q")
    ok(store, "i", "tag", ALPINE, "z:1")
    assert ok(store, "images", "remove", "z:1") == "z:1\n"


def test_names_that_are_not_utf8_print_as_their_bytes(store):
    raw = "odd\udcff:1"  # the byte 0xff, as Python carries it
    with Store.open(store) as opened, opened.write() as tx:
        Images(tx, "default").create(Image(raw, Descriptor(MANIFEST, DIGEST, 1)))
    assert ok(store, "images", "ls", "-q").encode("utf-8", "surrogateescape") == (
        ALPINE.encode() + b"\n" + b"odd\xff:1\n"
    )
    listed = json.loads(ok(store, "images", "ls", "--format", "json"))
    assert listed[1]["Name"] == "odd\ufffd:1"  # Go's encoding/json replaces invalid bytes
    assert ok(store, "images", "rm", raw) == f"{raw}\n"


@pytest.mark.parametrize("verb", [["ls"], ["put", "a:1", "--digest", DIGEST, "--size", "1"]])
def test_a_store_path_that_is_no_store_is_one_line(tmp_path, verb):
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "data.mdb").write_bytes(bytes(range(256)) * 64)
    for store, message in (
        (tmp_path / "garbage", "is not an LMDB environment"),
        (tmp_path / "file" / "sub", "is not a directory"),
    ):
        result = metafs(store, "images", *verb)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.startswith("metafs: ") and result.stderr.count("\n") == 1
        assert message in result.stderr
