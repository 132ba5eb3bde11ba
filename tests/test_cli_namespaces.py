"""`metafs namespaces ls|create|rm|label` in subprocesses, against a new store on each engine."""

from __future__ import annotations

import json

import pytest
from cli_helpers import DIGEST, MANIFEST, fails, ok

from metafs import Descriptor, Image, Images, Namespaces, Store


def labels(store, name):
    with Store.open(store, readonly=True) as opened, opened.read() as tx:
        return Namespaces(tx).labels(name)


@pytest.fixture
def store(new_store):
    path = new_store()
    Store.open(path).close()  # a new store (a `--store` that does not exist is refused)
    ok(path, "namespaces", "create", "default")
    return path


def test_create_ls_and_label_as_ctr_prints_them(store):
    assert ok(store, "namespaces", "create", "labeled-ns", "owner=ops") == ""
    assert ok(store, "namespaces", "label", "labeled-ns", "tier=gold") == ""
    ok(store, "ns", "c", "team-b")
    assert ok(store, "namespaces", "ls") == (
        "NAME       LABELS              \n"
        "default                        \n"
        "labeled-ns owner=ops,tier=gold \n"
        "team-b                         \n"
    )
    assert ok(store, "namespaces", "ls", "-q") == "default\nlabeled-ns\nteam-b\n"
    assert json.loads(ok(store, "namespace", "list", "--format", "json")) == [
        {"Name": "default", "Labels": {}},
        {"Name": "labeled-ns", "Labels": {"owner": "ops", "tier": "gold"}},
        {"Name": "team-b", "Labels": {}},
    ]


def test_label_true_and_removal(store):
    ok(store, "namespaces", "label", "default", "flag", "a=1")
    assert labels(store, "default") == {"flag": "true", "a": "1"}
    ok(store, "namespaces", "label", "default", "flag=")
    assert labels(store, "default") == {"a": "1"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "default"], "already exists"),
        (["create", "bad name"], "namespace"),
        (["create", "x" * 77], "longer than 76"),
        (["create", "ok-name", "=v"], "label key"),
        (["label", "nope", "a=b"], 'namespace "nope": not found'),
        (["label", "nope"], 'namespace "nope": not found'),
        (["label", "default", "k=" + "v" * 4096], "maximum size"),
        (["rm", "nope"], 'namespace "nope": not found'),
    ],
)
def test_refusals_change_nothing(store, args, message):
    assert message in fails(store, "namespaces", *args)


def test_rm_refuses_a_namespace_with_images_and_is_all_or_nothing(store):
    ok(store, "namespaces", "create", "empty-1")
    with Store.open(store) as opened, opened.write() as tx:
        Images(tx, "default").create(Image("a:1", Descriptor(MANIFEST, DIGEST, 1)))
    line = fails(store, "namespaces", "rm", "empty-1", "default")
    assert 'namespace "default" must be empty' in line and "images" in line
    assert ok(store, "namespaces", "rm", "empty-1") == "empty-1\n"
    assert ok(store, "namespaces", "ls", "-q") == "default\n"


def test_ls_of_an_empty_store(new_store):
    path = new_store("fresh")
    with Store.open(path):
        pass
    assert ok(path, "namespaces", "ls") == "NAME LABELS \n"
    assert ok(path, "namespaces", "ls", "-q") == ""
