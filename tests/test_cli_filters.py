"""containerd's filter syntax: a table of filters and what they select, and bad filters."""

from __future__ import annotations

import pytest
from cli_helpers import DIGEST, MANIFEST, OTHER_DIGEST, fails, ok

from metafs import Descriptor, Image, Images, InvalidArgument, Store, filters
from metafs.cli.containers import FIELDS as CONTAINER_FIELDS
from metafs.cli.images import FIELDS as IMAGE_FIELDS

INDEX = "application/vnd.oci.image.index.v1+json"

IMAGES = [
    Image("docker.io/library/alpine:3.19", Descriptor(MANIFEST, DIGEST, 405),
          {"team": "core", "env": "prod", "io.example/owner": "alice", "a.b": "dotted"}),
    Image("docker.io/library/alpine:latest", Descriptor(MANIFEST, DIGEST, 405), {}),
    Image("example.com/odd name, with spaces:1", Descriptor(INDEX, OTHER_DIGEST, 9),
          {"team": "app", "note": "hello world"}),
    Image("ghcr.io/org/tool:1.0", Descriptor(INDEX, OTHER_DIGEST, 9, {"ann": "x"}), {}),
]  # fmt: skip
A, L, ODD, G = (image.name for image in IMAGES)

CASES = [
    ([], [A, L, ODD, G]),
    ([""], [A, L, ODD, G]),
    ([f"name=={A}"], [A]),
    ([f"name!={A}"], [L, ODD, G]),
    (["name~=alpine"], [A, L]),
    (["name~=^docker\\.io/.*:3\\.19$"], [A]),
    (["name~=LATEST"], []),
    (["name~=(?i)LATEST"], [L]),
    (['name=="example.com/odd name, with spaces:1"'], [ODD]),
    (["name==|example.com/odd name, with spaces:1|"], [ODD]),
    (['name=="\\x67hcr.io/org/tool:1.0"'], [G]),
    (['name~="\\\\.19"'], [A]),
    ([f"target.digest=={DIGEST}"], [A, L]),
    ([f"target.mediatype=={INDEX}"], [ODD, G]),
    (["labels.team"], [A, ODD]),
    (["labels.team==core"], [A]),
    (["labels.team!=core"], [L, ODD, G]),  # absent counts as ""
    (["labels.team~=^c"], [A]),
    (['labels."io.example/owner"==alice'], [A]),
    (['labels."a.b"==dotted'], [A]),
    (["labels.a.b==dotted"], [A]),
    (["labels.nope"], []),
    (['labels."note"=="hello world"'], [ODD]),
    (["annotations.ann==x"], [G]),
    (["labels.team==core,name~=3.19"], [A]),
    (["labels.team==core,name~=latest"], []),
    (["labels.team==core", "labels.team==app"], [A, ODD]),
    (["labels.team==core,labels.env==prod", "name~=tool"], [A, G]),
    (["name == docker.io/library/alpine:latest"], [L]),
    (["labels.team,name~=odd"], [ODD]),
]


@pytest.mark.parametrize(("texts", "selected"), CASES)
def test_filters_select(texts, selected):
    match = filters.parse(texts, IMAGE_FIELDS)
    chosen = [image.name for image in IMAGES if match.match(image)]
    assert chosen == selected


BAD = [
    ("name==", "expected a value"),
    ("labels.team==", "expected a value"),
    ("name=a", 'unsupported operator "="'),
    ("name===a", 'unsupported operator "==="'),
    ("name<a", "expected an operator"),
    ("labels.team , name==a", "expected an operator"),  # containerd: no space before ","
    ("nmae==a", 'unknown field "nmae" for images'),
    ("target==x", 'unknown field "target" for images'),
    ("target.size==405", 'unknown field "target.size"'),
    ("labels", "labels needs a key"),
    ("name==a b", "unexpected input ' '"),
    ("name==a ", "unexpected input ' '"),
    ("name==a,", "expected a field name"),
    (",name==a", "expected a field name"),
    ("name==a,,name==b", "expected a field name"),
    ("name~=(", "bad regular expression"),
    ("name~=[a-", "bad regular expression"),
    ('name=="abc', "quoted literal not terminated"),
    ('name=="a\\qb"', "illegal escape sequence"),
    ('name=="\\xZZ"', "illegal numeric escape sequence"),
    ('labels."unterminated', "quoted literal not terminated"),
    ("name==.x", "expected a value"),
    ("labels.io.example/owner", "quoted literal not terminated"),  # "/" starts a quote
    ("name==a\x00", "unexpected null"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_filters_are_rejected_with_a_reason(text, message):
    with pytest.raises(InvalidArgument) as caught:
        filters.parse([text], IMAGE_FIELDS)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bad_filter_among_good_ones_is_still_an_error():
    with pytest.raises(InvalidArgument):
        filters.parse(["name==a", "", "nmae==b"], IMAGE_FIELDS)


def test_container_fields():
    with pytest.raises(InvalidArgument, match='unknown field "name" for containers'):
        filters.parse(["name==x"], CONTAINER_FIELDS)
    for field in ("id==x", "image==x", "runtime.name==x", "snapshotter==x", "labels.a==x"):
        filters.parse([field], CONTAINER_FIELDS)


@pytest.fixture
def store(new_store):
    path = new_store()
    with Store.open(path) as opened, opened.write() as tx:
        images = Images(tx, "default")
        for image in IMAGES:
            images.create(image)
    return path


def test_filters_on_the_command_line(store):
    assert ok(store, "images", "ls", "-q", "labels.team==core", "labels.team==app") == (
        f"{A}\n{ODD}\n"
    )
    assert ok(store, "images", "ls", "-q", f"name=={L}") == f"{L}\n"
    table = ok(store, "images", "ls", "labels.team==core,labels.env==prod")
    assert [line.split(" ")[0] for line in table.splitlines()] == ["REF", A]


@pytest.mark.parametrize(("text", "message"), BAD[:6])
def test_a_bad_filter_on_the_command_line_is_one_line_and_status_1(store, text, message):
    line = fails(store, "images", "ls", text)
    assert message in line and text.split("=")[0] in line
