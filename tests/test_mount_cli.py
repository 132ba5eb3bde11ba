"""The mount and the command line agree (issue 4): for every namespace of the imported
meta-small.db, what `ls`, `grep -r` and `cat` show of images/ and containers/ is what
`metafs images ls --format json`, `containers ls --format json` and `containers info` print."""

from __future__ import annotations

import json

import pytest
from cli_helpers import ok
from containerd_fixture import META_DB
from mount_helpers import texts

from metafs import Store
from metafs import buckets as B
from metafs.fs import names
from metafs.importer import import_bolt

NAMESPACES = ("default", "team-b", "labeled-ns")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("fixture") / "store"
    with Store.open(path) as store:
        import_bolt(store, META_DB)
    return path


@pytest.fixture(scope="module", params=NAMESPACES)
def case(request, mount_factory, store_dir):
    """(mount of the namespace, read-only; the namespace)"""
    mnt, _ = mount_factory("-n", request.param, "--read-only", store_dir=store_dir)
    return mnt, request.param


def listed(mnt, directory: str) -> list[str]:
    """The stored names in a directory of the mount, in readdir (the store's) order."""
    entries = mnt.sh(f"ls -f {directory}", check=True).stdout.split("\n")[:-1]
    return [B.dec(names.decode(e.encode())) for e in entries if e not in (".", "..")]


def fs(name: str) -> str:
    return B.dec(names.encode(B.enc(name)))


def labels_shown(shown: dict[str, str], directory: str) -> dict[str, str]:
    prefix = f"{directory}/labels/"
    return {
        B.dec(names.decode(p.removeprefix(prefix).encode())): text.removesuffix("\n")
        for p, text in shown.items()
        if p.startswith(prefix)
    }


def test_images_are_what_images_ls_prints(case):
    mnt, ns = case
    cli = json.loads(ok(mnt.store_dir, "-n", ns, "images", "ls", "--format", "json"))
    assert listed(mnt, "images") == [image["Name"] for image in cli]
    shown = texts(mnt, "images") if cli else {}
    for image in cli:
        d = f"images/{fs(image['Name'])}"
        target = image["Target"]
        assert {
            name: shown[f"{d}/{name}"]
            for name in ("digest", "mediatype", "size", "createdat", "updatedat")
        } == {
            "digest": target["digest"] + "\n",
            "mediatype": target["mediaType"] + "\n",
            "size": f"{target['size']}\n",
            "createdat": image["CreatedAt"] + "\n",
            "updatedat": image["UpdatedAt"] + "\n",
        }
        assert listed(mnt, f"'{d}/labels'") == sorted(image["Labels"], key=B.enc)
        assert labels_shown(shown, d) == image["Labels"]


def test_containers_are_what_containers_ls_and_info_print(case):
    mnt, ns = case
    cli = json.loads(ok(mnt.store_dir, "-n", ns, "containers", "ls", "--format", "json"))
    assert listed(mnt, "containers") == [c["ID"] for c in cli]
    shown = texts(mnt, "containers") if cli else {}
    for container in cli:
        d = f"containers/{container['ID']}"
        info = json.loads(ok(mnt.store_dir, "-n", ns, "containers", "info", container["ID"]))
        assert {k: v for k, v in info.items() if k != "Spec"} == container
        assert {
            name: shown[f"{d}/{name}"]
            for name in ("image", "runtime", "snapshotter", "snapshotkey", "createdat", "updatedat")
        } == {
            "image": container["Image"] + "\n",
            "runtime": container["Runtime"]["Name"] + "\n",
            "snapshotter": container["Snapshotter"] + "\n",
            "snapshotkey": container["SnapshotKey"] + "\n",
            "createdat": container["CreatedAt"] + "\n",
            "updatedat": container["UpdatedAt"] + "\n",
        }
        assert json.loads(shown[f"{d}/spec"]) == info["Spec"]
        assert listed(mnt, f"{d}/labels") == sorted(container["Labels"], key=B.enc)
        assert labels_shown(shown, d) == container["Labels"]


def test_every_namespace_has_something_to_compare(store_dir):
    counts = {
        ns: (
            len(json.loads(ok(store_dir, "-n", ns, "images", "ls", "--format", "json"))),
            len(json.loads(ok(store_dir, "-n", ns, "containers", "ls", "--format", "json"))),
        )
        for ns in NAMESPACES
    }
    assert counts == {"default": (7, 3), "team-b": (2, 2), "labeled-ns": (0, 0)}
