"""The text and JSON dumps: the fixture's bolt-dump.txt line for line, and the rendering rules."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from containerd_fixture import BOLT_DUMP, META_DB

from metafs.bolt import BoltFile
from metafs.codec import RUNC_OPTIONS_TYPE_URL, AnyValue, encode_time
from metafs.dump import dump_json, dump_text, go_quote, render

Tree = dict[bytes, Any]


class FakeBucket:
    """The items()/bucket() protocol over a dict: what the dump must accept besides bolt."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree

    def items(self) -> Iterator[tuple[bytes, bytes | None]]:
        for key in sorted(self.tree):
            value = self.tree[key]
            yield key, None if isinstance(value, dict) else value

    def bucket(self, name: bytes) -> FakeBucket | None:
        value = self.tree.get(name)
        return FakeBucket(value) if isinstance(value, dict) else None


def text(tree: Tree) -> list[str]:
    out = io.StringIO()
    dump_text(FakeBucket(tree), out)
    return out.getvalue().splitlines()


def as_json(tree: Tree) -> Any:
    out = io.StringIO()
    dump_json(FakeBucket(tree), out)
    return json.loads(out.getvalue())


# ---- the fixture -----------------------------------------------------------------------------


def test_fixture_dump_is_bolt_dump_txt() -> None:
    out = io.StringIO()
    with BoltFile(META_DB) as db:
        dump_text(db.root(), out)
    assert out.getvalue().splitlines() == BOLT_DUMP.read_text().splitlines()
    assert out.getvalue().endswith("\n")


class Recorder(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def write(self, s: str) -> int:
        self.sizes.append(len(s))
        return super().write(s)


def test_dumps_stream() -> None:
    for dump in (dump_text, dump_json):
        out = Recorder()
        with BoltFile(META_DB) as db:
            dump(db.root(), out)
        assert len(out.sizes) > 200 and max(out.sizes) < 20_000  # an entry at a time


def test_fixture_json() -> None:
    out = io.StringIO()
    with BoltFile(META_DB) as db:
        dump_json(db.root(), out)
    doc = json.loads(out.getvalue())
    v1 = doc["v1"]
    assert v1["version"] == {"hex": "06", "decoded": {"varint": 3}}
    assert v1["default"]["content"]["ingests"] == {}
    web = v1["default"]["containers"]["web-1"]
    assert web["labels"]["unicode"] == {"value": "héllo ✓"}
    assert web["createdat"]["decoded"] == {
        "time": "2026-11-28T03:00:34.485105845Z",
        "unixnano": 1795834834485105845,
    }
    spec = web["spec"]["decoded"]["any"]
    assert spec["type_url"] == "types.containerd.io/opencontainers/runtime-spec/1/Spec"
    assert spec["value_size"] == 2762 and spec["value_json"]["ociVersion"]
    options = web["runtime"]["options"]
    assert options["decoded"]["any"]["type_url"] == RUNC_OPTIONS_TYPE_URL
    assert options["hex"].startswith("0a1a")
    # the JSON holds every byte: rebuild the tree from it and compare with the file
    with BoltFile(META_DB) as db:
        assert from_json(doc) == tree_of(db.root())


def from_json(node: dict[str, Any]) -> Tree:
    out: Tree = {}
    for name, entry in node.items():
        key = bytes.fromhex(name[4:]) if name.startswith("hex:") else name.encode()
        if isinstance(entry.get("value"), str):
            out[key] = entry["value"].encode()
        elif isinstance(entry.get("hex"), str):
            out[key] = bytes.fromhex(entry["hex"])
        else:
            out[key] = from_json(entry)
    return out


def tree_of(bucket: Any) -> Tree:
    return {k: tree_of(bucket.bucket(k)) if v is None else v for k, v in bucket.items()}


# ---- rendering -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, quoted",
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("héllo ✓ 😀 日本", '"héllo ✓ 😀 日本"'),
        ("\u00a0nbsp", '"\\u00a0nbsp"'),
        ("soft\u00adhyphen", '"soft\\u00adhyphen"'),
        ("\u2028", '"\\u2028"'),
        ("\ufeff", '"\\ufeff"'),
        ("\u0378", '"\\u0378"'),  # unassigned
        ("\ue000", '"\\ue000"'),  # private use
        ("\U000e0001", '"\\U000e0001"'),
        ("\U0010ffff", '"\\U0010ffff"'),
        ("\u0085", '"\\u0085"'),  # C1 control
        ("a\nb\t\x00\x7f\x1b\a\b\f\r\v", '"a\\nb\\t\\x00\\x7f\\x1b\\a\\b\\f\\r\\v"'),
        ("", '""'),
    ],
)
def test_go_quote(raw: str, quoted: str) -> None:
    assert go_quote(raw) == quoted


def test_render_rules() -> None:
    assert render(b"") == '""'
    assert render(b"a" * 200) == '"' + "a" * 200 + '"'
    long = b"a" * 201
    assert render(long) == f"<201 bytes sha256:{hashlib.sha256(long).hexdigest()}>"
    assert render(b"line\n") == "hex:6c696e650a"  # a control character: not quoted
    assert render(b"\x7f") == "hex:7f"
    assert render(b"\xff\xfe") == "hex:fffe"  # not UTF-8
    assert render(b"\xed\xa0\x80") == "hex:eda080"  # a surrogate is not valid UTF-8
    assert render(b"\x00" * 64) == "hex:" + "00" * 64
    assert render(b"\x00" * 65) == f"<65 bytes sha256:{hashlib.sha256(bytes(65)).hexdigest()}>"
    assert render("\u00e9".encode()) == '"é"'
    assert render("\u0085".encode()) == '"\\u0085"'  # C1 controls are quoted, escaped


# ---- decoding --------------------------------------------------------------------------------


def line(tree: Tree, index: int = 0) -> str:
    return text(tree)[index]


def test_times() -> None:
    stamp = encode_time(1795834834533002160)
    assert line({b"createdat": stamp}).endswith(
        "(time 2026-11-28T03:00:34.53300216Z unixnano=1795834834533002160)"
    )
    assert line({b"expireat": encode_time(0)}).endswith("(time 1970-01-01T00:00:00Z unixnano=0)")
    assert line({b"updatedat": b""}) == (
        '"updatedat" = ""  (bad time: Time.UnmarshalBinary: no data)'
    )
    assert line({b"createdat": b"\x03" + stamp[1:]}).endswith(
        "(bad time: Time.UnmarshalBinary: unsupported version)"
    )
    assert line({b"createdat": stamp[:-1]}).endswith(
        "(bad time: Time.UnmarshalBinary: invalid length)"
    )
    plus_two = stamp[:-2] + (120).to_bytes(2, "big")
    assert line({b"createdat": plus_two}).endswith(
        "(time 2026-11-28T05:00:34.53300216+02:00 unixnano=1795834834533002160)"
    )
    minus = stamp[:-2] + (-90).to_bytes(2, "big", signed=True)
    assert "01:30:34.53300216-01:30 " in line({b"createdat": minus})


def test_varints() -> None:
    assert line({b"size": b"\xaa\x06"}) == '"size" = hex:aa06  (varint 405)'
    assert line({b"version": b"\x05"}).endswith("(varint -3)")
    assert line({b"size": b"\x06\xff"}).endswith("(varint 3)")  # Go reads a prefix
    for bad in (b"", b"\x80", b"\xff" * 10 + b"\x01", b"\xff" * 9 + b"\x02"):
        assert "(" not in line({b"size": bad}), bad
    assert line({b"size": b"\xff" * 9 + b"\x01"}).endswith("(varint -9223372036854775808)")


def test_any() -> None:
    spec = AnyValue("types.containerd.io/opencontainers/runtime-spec/1/Spec", b'{"a":1}').encode()
    digest = hashlib.sha256(b'{"a":1}').hexdigest()
    expected = (
        f'(Any type_url="types.containerd.io/opencontainers/runtime-spec/1/Spec" '
        f"value=7 bytes sha256:{digest})"
    )
    assert line({b"spec": spec}).endswith(expected)
    ext = AnyValue("x.y", b"\x01").encode()
    one = hashlib.sha256(b"\x01").hexdigest()
    assert line({b"extensions": {b"my-ext": ext}}, 1).endswith(
        f'(Any type_url="x.y" value=1 bytes sha256:{one})'
    )
    assert line({b"options": b"\x0b"}) == '"options" = hex:0b'  # wire type 3: not an Any
    odd_url = AnyValue("bad\x01url").encode()
    assert "type_url=hex:6261640175726c value=0 bytes" in line({b"options": odd_url})


def test_no_decoding_inside_labels_and_annotations() -> None:
    tree = {
        kind: {b"createdat": b"x", b"size": b"\x06", b"spec": b"\x0a\x00"}
        for kind in (b"labels", b"annotations")
    }
    tree[b"other"] = {b"size": b"\x06"}
    lines = text(tree)
    assert all("(" not in entry for entry in lines[:8])
    assert lines[-1] == '  "size" = hex:06  (varint 3)'


def test_structure_and_indent() -> None:
    tree = {b"a": {b"b": {b"c": b"1"}, b"empty": {}}, b"z": b""}
    assert text(tree) == ['["a"]', '  ["b"]', '    "c" = "1"', '  ["empty"]', '"z" = ""']


def test_deep_nesting_needs_no_recursion() -> None:
    tree: Tree = {b"leaf": b"v"}
    for _ in range(5000):
        tree = {b"n": tree}
    lines = text(tree)
    assert len(lines) == 5001 and lines[-1] == "  " * 5000 + '"leaf" = "v"'
    out = io.StringIO()
    dump_json(FakeBucket(tree), out)  # (Python's json module itself cannot read it back)
    json_lines = out.getvalue().splitlines()
    assert json_lines[5001] == "  " * 5001 + '"leaf": {"value": "v"}'
    assert json_lines[5002:] == ["  " * depth + "}" for depth in range(5000, -1, -1)]


def test_json_names_and_values() -> None:
    tree = {
        b"\xff\x00": {b"hex:ab": b"\x00\x01", b"text": "✓ ok".encode(), b"nl": b"a\nb"},
        b"empty": {},
    }
    doc = as_json(tree)
    assert doc == {
        "hex:ff00": {
            "hex:6865783a6162": {"hex": "0001"},
            "nl": {"hex": "610a62"},
            "text": {"value": "✓ ok"},
        },
        "empty": {},
    }
    assert from_json(doc) == tree
    assert as_json({}) == {}
    bad = as_json({b"createdat": b""})
    assert bad == {
        "createdat": {"value": "", "decoded": {"error": "Time.UnmarshalBinary: no data"}}
    }
