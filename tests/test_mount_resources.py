"""snapshots/, content/ and leases/ in the mount of the imported meta-small.db: the files match
the records, `why` says what keeps each resource, nothing there can be changed, and an rmdir of
a container removes its snapshot's directory and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import ok
from containerd_fixture import META_DB
from gc_world import CHAIN, CONFIG, DEFAULT_IMAGES, LAYER, MANIFEST, diff, dump, tops
from mount_helpers import eventually, listing, texts, why_chains

from metafs import Content, Leases, Snapshots, Store, gc
from metafs import buckets as B
from metafs.codec import format_time
from metafs.fs import names
from metafs.importer import import_bolt

NS = "default"
VIEWS = ("snapshots", "content", "leases")
WHY = object()  # the expected text of a `why` file: gc.explain's, compared on its own


def imported(store: Store) -> None:
    import_bolt(store, META_DB)


@pytest.fixture(scope="module")
def env(mount_factory):
    return mount_factory(fill=imported)


def fs(name: str) -> str:
    """A stored name as the mount shows it."""
    return B.dec(names.encode(B.enc(name)))


def lines(items: list[str]) -> str:
    return "".join(item + "\n" for item in items)


def expected_views(store: Store, ns: str = NS) -> dict[str, str | object | None]:
    """Every path of the resource views, as the records read through the store API say:
    None for a directory, else the file's text (WHY for a why file)."""
    found: dict[str, str | object | None] = dict.fromkeys(VIEWS)

    def record(path: str, fields: dict[str, str], labels: dict[str, str]) -> None:
        found[path] = found[f"{path}/labels"] = None
        found[f"{path}/why"] = WHY
        found.update({f"{path}/{name}": text for name, text in fields.items()})
        found.update({f"{path}/labels/{fs(k)}": v + "\n" for k, v in labels.items()})

    with store.read() as tx:
        snapshots = Snapshots(tx, ns)
        for snapshotter in snapshots.snapshotters():
            found[f"snapshots/{fs(snapshotter)}"] = None
            for s in snapshots.list(snapshotter):
                fields = {
                    "name": s.name + "\n",
                    "parent": s.parent + "\n",
                    "children": lines(s.children),
                    "createdat": format_time(s.created_at) + "\n",
                    "updatedat": format_time(s.updated_at) + "\n",
                }
                record(f"snapshots/{fs(snapshotter)}/{fs(s.key)}", fields, s.labels)
        for b in Content(tx, ns).list():
            fields = {
                "size": f"{b.size}\n",
                "createdat": format_time(b.created_at) + "\n",
                "updatedat": format_time(b.updated_at) + "\n",
            }
            record(f"content/{fs(b.digest)}", fields, b.labels)
        for lease in Leases(tx, ns).list():
            held = {"content": [], "ingests": [], "snapshots": []}
            for r in lease.resources:
                kind, _, snapshotter = r.type.partition("/")
                held[kind].append(f"{snapshotter}/{r.id}" if snapshotter else r.id)
            expires = lease.expires_at
            fields = {
                "createdat": format_time(lease.created_at) + "\n",
                "expires": (format_time(expires) if expires is not None else "") + "\n",
                **{kind: lines(items) for kind, items in held.items()},
            }
            record(f"leases/{fs(lease.id)}", fields, lease.labels)
    return found


def explanation(store: Store, path: str) -> str:
    """gc.explain's text for the resource whose directory is `path` in the mount."""
    top, *rest = path.split("/")
    stored = [B.dec(names.decode(part.encode())) for part in rest]
    kind = {"snapshots": "snapshot", "content": "content", "leases": "lease"}[top]
    with store.read() as tx:
        return gc.explain(tx, NS, kind, "/".join(stored)).text()


def test_the_views_show_every_record_field_and_label(env):
    mnt, store = env
    expected = expected_views(store)
    shown = listing(mnt, *VIEWS)
    assert set(shown) == set(expected)
    assert {p: kind for p, (kind, _) in shown.items()} == {
        p: "d" if text is None else "f" for p, text in expected.items()
    }
    assert texts(mnt, *VIEWS, exclude="why") == {
        p: text for p, text in expected.items() if isinstance(text, str) and text
    }
    # what the records hold, as bolt-dump.txt shows it
    web = "snapshots/overlayfs/web-1"
    assert mnt.sh(f"cat {web}/name {web}/parent").stdout == f"default/3/web-1\n{CHAIN}\n"
    assert mnt.sh(f"cat snapshots/overlayfs/{CHAIN}/parent").stdout == "\n"
    assert mnt.sh(f"cat snapshots/overlayfs/{CHAIN}/children").stdout == "kata-1\nweb-1\n"
    assert mnt.sh(f"cat content/{LAYER}/size").stdout == "1027836\n"
    assert mnt.sh(f"cat {web}/createdat").stdout == "2026-11-28T03:00:34.477938589Z\n"
    assert mnt.sh("cat leases/keep-me/labels/purpose leases/keep-me/expires").stdout == (
        "fixture\n\n"
    )
    assert mnt.sh("ls content/" + MANIFEST + "/labels").stdout.split() == [
        "containerd.io%2Fgc.ref.content.config",
        "containerd.io%2Fgc.ref.content.l.0",
    ]


def test_st_size_is_what_cat_prints_and_files_are_read_only(env):
    mnt, store = env
    shown = listing(mnt, *VIEWS)
    files = [p for p, (kind, _) in shown.items() if kind == "f"]
    text = texts(mnt, *VIEWS)
    for path in files:
        assert shown[path][1] == len(text.get(path, "").encode()), path
    modes = mnt.sh("stat -c %a " + " ".join(f"'{p}'" for p in files)).stdout.split()
    assert set(modes) == {"444"}


def test_why_is_what_gc_explain_prints(env):
    mnt, store = env
    shown = texts(mnt, *VIEWS)
    whys = {p.removesuffix("/why"): t for p, t in shown.items() if p.endswith("/why")}
    assert len(whys) == 3 + 5 + 1  # blobs, snapshots, leases
    for path, text in whys.items():
        assert text == explanation(store, path), path
    cli = ok(mnt.store_dir, "-n", NS, "gc", "explain", "snapshot", "overlayfs", CHAIN)
    assert whys[f"snapshots/overlayfs/{CHAIN}"] == cli


def test_why_names_the_containers_and_images_that_keep_a_resource(env):
    mnt, _ = env
    web = mnt.sh("cat snapshots/overlayfs/web-1/why").stdout
    assert why_chains(web) == [["container web-1", "snapshot overlayfs/web-1"]]
    base = mnt.sh(f"cat snapshots/overlayfs/{CHAIN}/why").stdout
    assert base.startswith(f"snapshot overlayfs/{CHAIN} is kept by 3 references:\n")
    assert why_chains(base) == [
        ["container kata-1", "snapshot overlayfs/kata-1", f"snapshot overlayfs/{CHAIN}"],
        ["container web-1", "snapshot overlayfs/web-1", f"snapshot overlayfs/{CHAIN}"],
        [
            f"image {DEFAULT_IMAGES[0]}",
            f"content {MANIFEST}",
            f"content {CONFIG}",
            f"snapshot overlayfs/{CHAIN}",
        ],
    ]
    layer = mnt.sh(f"cat content/{LAYER}/why").stdout
    assert layer == (
        f"content {LAYER} is kept:\n"
        f"  image {DEFAULT_IMAGES[0]}  (root)\n"
        f"  -> content {MANIFEST}  (target digest)\n"
        f"  -> content {LAYER}  (label containerd.io/gc.ref.content.l.0)\n"
    )
    manifest = why_chains(mnt.sh(f"cat content/{MANIFEST}/why").stdout)
    assert manifest == [[f"image {name}", f"content {MANIFEST}"] for name in DEFAULT_IMAGES]
    assert mnt.sh("grep -rl 'container db-1' snapshots").stdout.split() == [
        "snapshots/native/db-1/why",
        f"snapshots/native/{CHAIN}/why",
    ]


REFUSED = (
    "echo x > snapshots/overlayfs/web-1/name",
    "echo x > snapshots/overlayfs/web-1/why",
    "echo x > snapshots/overlayfs/web-1/labels/new",
    f"echo x > content/{CONFIG}/labels/new",
    f"echo x > content/{CONFIG}/labels/containerd.io%2Fgc.ref.snapshot.native",
    f"truncate -s 0 content/{CONFIG}/size",
    "echo x > leases/keep-me/labels/purpose",
    "echo x > leases/keep-me/new",
    "rm leases/keep-me/labels/purpose",
    "rm snapshots/overlayfs/web-1/why",
    "mkdir snapshots/btrfs",
    "mkdir content/sha256:" + "0" * 64,
    "rmdir snapshots/overlayfs/web-1",
    f"rmdir content/{LAYER}",
    "rmdir leases/keep-me",
    "mv leases/keep-me leases/other",
    "mv snapshots/overlayfs/web-1/labels snapshots/overlayfs/web-1/l",
    f"setfattr -n user.k -v v content/{CONFIG}",
    "touch snapshots/overlayfs/new",
)


def test_changes_are_refused_with_eperm_and_change_nothing(env):
    mnt, store = env
    with store.read() as tx:
        before = dump(tx)
    generation = store.generation()
    for command in REFUSED:
        result = mnt.sh(command)
        assert result.returncode != 0 and "Operation not permitted" in result.stderr, (
            command,
            result.stderr,
        )
    assert store.generation() == generation
    with store.read() as tx:
        assert dump(tx) == before


def test_a_read_only_mount_refuses_them_with_erofs(env, mount_factory):
    mnt, store = env
    ro, _ = mount_factory("--read-only", store_dir=mnt.store_dir)
    generation = store.generation()
    for command in REFUSED:
        result = ro.sh(command)
        assert result.returncode != 0 and "Read-only file system" in result.stderr, (
            command,
            result.stderr,
        )
    assert store.generation() == generation
    assert (
        ro.sh("cat snapshots/overlayfs/web-1/why").stdout
        == mnt.sh("cat snapshots/overlayfs/web-1/why").stdout
    )


def test_rmdir_of_a_container_removes_its_snapshot_directory_and_nothing_else(mount_factory):
    mnt, store = mount_factory(fill=imported)
    web, base = "snapshots/overlayfs/web-1", f"snapshots/overlayfs/{CHAIN}"
    before = listing(mnt, ".")
    with store.read() as tx:
        stored_before = dump(tx)
    assert mnt.sh(f"cat {web}/why {base}/children").returncode == 0  # now in the kernel's cache

    mnt.sh("rmdir containers/web-1", check=True)
    eventually(lambda: mnt.sh(f"test -e {web}").returncode, 1)
    assert mnt.sh("ls snapshots/overlayfs").stdout.split() == ["kata-1", CHAIN]
    eventually(lambda: mnt.sh(f"cat {base}/children").stdout, "kata-1\n")

    after = listing(mnt, ".")
    gone = {p for p in before if p not in after}
    assert gone == {p for p in before if p.startswith(("./containers/web-1", f"./{web}"))}
    assert set(after) <= set(before)
    with store.read() as tx:
        removed, added, changed = diff(stored_before, dump(tx))
    ns = (b"v1", b"default")
    snapshots = (*ns, b"snapshots", b"overlayfs")
    assert not added and not changed
    assert tops(removed) == {
        (*ns, b"containers", b"web-1"),
        (*snapshots, b"web-1"),
        (*snapshots, CHAIN.encode(), b"children", b"web-1"),
    }
    assert why_chains(mnt.sh(f"cat {base}/why").stdout)[:1] == [
        ["container kata-1", "snapshot overlayfs/kata-1", f"snapshot overlayfs/{CHAIN}"]
    ]
    assert "web-1" not in mnt.sh(f"cat {base}/why").stdout
    assert Path(mnt.path, "containers", "kata-1").is_dir()
