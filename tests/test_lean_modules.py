"""What replaced re, dataclasses, contextlib and pathlib on a one-shot command's path (their
imports were most of its time) behaves as they did."""

from __future__ import annotations

import datetime
import re
from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metafs import validation
from metafs.cli.formats import local_rfc3339
from metafs.contexts import contextmanager, suppress
from metafs.engines.lmdb import _normal_path
from metafs.errors import InvalidArgument
from metafs.images import Descriptor, Image
from metafs.leases import LeaseResource

IDENTIFIER = re.compile(validation.IDENTIFIER_PATTERN)
NEAR_IDENTIFIERS = st.text(alphabet="aZ09._-é\n ", max_size=12)


@given(st.one_of(NEAR_IDENTIFIERS, st.text(max_size=12)))
def test_identifiers_are_what_the_regular_expression_accepts(text: str) -> None:
    assert validation.is_identifier(text) == bool(IDENTIFIER.fullmatch(text))


@given(st.text(alphabet="0123456789abcdefABCDEFg\n", min_size=64, max_size=64))
def test_digest_hex_is_what_the_regular_expression_accepts(hex_part: str) -> None:
    accepted = bool(re.fullmatch(r"[a-f0-9]+", hex_part))
    try:
        validation.digest(f"sha256:{hex_part}")
    except InvalidArgument:
        assert not accepted
    else:
        assert accepted


@given(st.text(alphabet="/.ab", max_size=10))
def test_store_paths_print_as_pathlib_prints_them(text: str) -> None:
    assert _normal_path(text) == str(PurePosixPath(text))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/St_Johns", "Asia/Kolkata"])
def test_local_times_are_what_datetime_makes_of_them(monkeypatch, zone: str) -> None:
    import time

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        for ns in (0, 1_700_000_000_000_000_000, 1_720_000_000_123_456_789):
            moment = datetime.datetime.fromtimestamp(ns // 10**9).astimezone()
            expected = moment.isoformat(timespec="seconds").replace("+00:00", "Z")
            assert local_rfc3339(ns) == expected
    finally:
        monkeypatch.undo()
        time.tzset()


def test_records_compare_show_and_copy_as_dataclasses_did() -> None:
    image = Image("a", Descriptor("m", "d", 1), {"k": "v"})
    assert image == Image("a", Descriptor("m", "d", 1), {"k": "v"})
    assert image != Image("b", Descriptor("m", "d", 1), {"k": "v"})
    assert repr(image) == (
        "Image(name='a', target=Descriptor(media_type='m', digest='d', size=1, "
        "annotations={}), labels={'k': 'v'}, created_at=0, updated_at=0)"
    )
    copy = image.replace(name="b")
    assert (copy.name, copy.labels, image.name) == ("b", {"k": "v"}, "a")
    assert Image("x").labels is not Image("y").labels  # no default shared between objects
    with pytest.raises(TypeError):
        hash(image)
    with pytest.raises(TypeError):
        image.replace(nom="b")
    resource = LeaseResource.content("sha256:1")
    assert {resource, LeaseResource("sha256:1", "content")} == {resource}
    with pytest.raises(AttributeError):
        resource.id = "x"  # type: ignore[misc]


def test_contextmanager_runs_the_generator_as_contextlib_does() -> None:
    events = []

    @contextmanager
    def guarded(name: str):  # type: ignore[no-untyped-def]
        events.append(f"enter {name}")
        try:
            yield name.upper()
        except KeyError:
            events.append("caught")
        finally:
            events.append("exit")

    with guarded("a") as value:
        assert value == "A"
    with guarded("b"):
        raise KeyError("swallowed by the generator")
    with pytest.raises(ValueError, match="passes"), guarded("c"):
        raise ValueError("passes through")
    assert events == ["enter a", "exit", "enter b", "caught", "exit", "enter c", "exit"]
    assert guarded.__name__ == "guarded"


def test_suppress_ignores_only_its_kinds() -> None:
    with suppress(FileNotFoundError):
        raise FileNotFoundError
    with pytest.raises(PermissionError), suppress(FileNotFoundError):
        raise PermissionError
