"""4. Fuzzed operations through a real mount (hypothesis): label names with odd bytes and
%-escapes, values, open flags, offsets, fields, extended attributes, renames, and writes of up
to tens of MB, each checked against a model of what the store holds. EIO is never a right
answer (it means a broken store or a bug, never a bad value); the daemon must be alive at the
end. Where the documentation fixes the answer (a valid label is stored, a name that is not an
escaped one is EINVAL, a value over the limit is EINVAL...), the answer is checked too.
Hypothesis only generates here (no shrinking through a live mount): TORTURE_DEBUG=1 shows the
operations of each failing example up to its failure."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ..images import Images
from ..store import Store
from .report import Report
from .rig import Rig, add_objects, errname

LABEL_MAX = 4096
DEBUG = bool(os.environ.get("TORTURE_DEBUG"))
TOUCHING = {"write", "raw write", "rm", "setxattr", "removexattr", "mv"}
OK = "ok"
# what an op_* method returns: its outcome (OK or an errno name), the outcomes the
# documentation allows (None: not checked), and how to apply it to the model (if OK)
Outcome = tuple[str, set[str] | None, Callable[[], object] | None]
FLAGS = {
    ">": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    ">>": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "rw+creat": os.O_RDWR | os.O_CREAT,
    "excl": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
    "no creat": os.O_WRONLY,
}


# ---- the documented escaping (docs/mount.md, "Names"), written again from the table --------


def escape(key: bytes) -> bytes:
    if key in (b".", b".."):
        return b"%2E" * len(key)
    return key.replace(b"%", b"%25").replace(b"/", b"%2F").replace(b"\0", b"%00")


# New files named like editors' side files are scratch files, not labels (docs/mount.md,
# "Editors"): the editors section tries those, the fuzzing leaves them out.
SIDE_FILE = re.compile(rb"\..+\.sw.x?|.+~|#.+#|sed[A-Za-z0-9]{6}|tmp[a-z0-9_]{8}|\d+", re.DOTALL)


def is_label_name(key: bytes) -> bool:
    name = escape(key)
    return 0 < len(name) <= 255 and SIDE_FILE.fullmatch(name) is None


def unescape(name: bytes) -> bytes | None:
    """The key a file name stands for, or None if it is not an escaped name."""
    if name in (b"%2E", b"%2E%2E"):
        return b"." * (len(name) // 3)
    key = name.replace(b"%2F", b"/").replace(b"%00", b"\0").replace(b"%25", b"%")
    if not name or len(name) > 255 or escape(key) != name or name in (b".", b".."):
        return None
    return key


# ---- what hypothesis draws -------------------------------------------------------------------

ODD = st.sampled_from(
    [
        b"%",
        b"/",
        b"\0",
        b".",
        b"..",
        b"%25",
        b"%2F",
        b"\xff",
        b"\xc3\xa9",
        b" ",
        b"\t",
        b"\x01",
        b"=",
        b"\\",
        b"~",
        b"*",
    ]
)
keys = (
    st.lists(
        st.one_of(ODD, st.binary(min_size=1, max_size=6), st.text(max_size=4).map(str.encode)),
        min_size=1,
        max_size=6,
    )
    .map(b"".join)
    .filter(is_label_name)
)
raw_names = st.one_of(
    st.sampled_from(
        [b"100%", b"%zz", b"%2f", b"%2e", b"a%2E", b"%", b"%~" + b"0" * 24, b"%252", b"%00%"]
    ),
    st.binary(min_size=1, max_size=12).filter(
        lambda n: (
            b"/" not in n
            and b"\0" not in n
            and n not in (b".", b"..")
            and SIDE_FILE.fullmatch(n) is None
        )
    ),
)
plain = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40).map(
    str.encode
)
values = st.one_of(
    plain,
    st.binary(max_size=64).filter(lambda v: b"\n" not in v),
    st.integers(4000, 4200).map(lambda n: b"x" * n),  # around the 4096-byte limit
)
big = st.sampled_from([5000, 300_000, 4 << 20, 24 << 20])  # a value of tens of MB


@st.composite
def write_ops(
    draw: st.DrawFn, keys: st.SearchStrategy[bytes]
) -> tuple[str, bytes, list[bytes], str, str, Random]:
    key = draw(keys)
    value = draw(values)
    newline = draw(st.booleans())
    data = value + (b"\n" if newline else b"")
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    offsets = draw(st.sampled_from(["sequential", "random", "zero"]))
    return ("write", key, chunks, draw(st.sampled_from(sorted(FLAGS))), offsets, draw(st.randoms()))


def operations(pool: list[bytes]) -> st.SearchStrategy:
    """The operations of one example; label keys mostly from `pool`, so that operations meet."""
    key = st.one_of(st.sampled_from(pool), st.sampled_from(pool), keys)
    fields = st.one_of(plain, st.sampled_from(FIELD_VALUES))
    return st.one_of(
        write_ops(key),
        write_ops(key),
        st.tuples(st.just("raw write"), raw_names, plain),
        st.tuples(st.just("rm"), key),
        st.tuples(st.just("setxattr"), key, values),
        st.tuples(st.just("removexattr"), key),
        st.tuples(st.just("read"), key, st.integers(0, 5000), st.integers(0, 5000)),
        st.tuples(st.just("mv"), key, key),
        st.tuples(st.just("field"), st.sampled_from(["mediatype", "size", "digest"]), fields),
        st.tuples(st.just("big"), st.sampled_from(["label", "mediatype", "size", "digest"]), big),
        st.tuples(st.just("listxattr")),
    )


FIELD_VALUES = [
    b"12",
    b"0",
    b"9" * 19,
    b"9" * 5000,
    b"sha256:" + b"a" * 64,
    b"sha256:" + b"A" * 64,
    b"-1",
    b" 12",
]


def brief(op: tuple) -> str:
    """An operation as a failure message shows it: long values as their length."""
    if op[0] == "write":
        op = (op[0], op[1], b"".join(op[2]), *op[3:5])
    shown = [f"<{len(p)} bytes>" if isinstance(p, bytes) and len(p) > 40 else repr(p) for p in op]
    return "(" + ", ".join(shown) + ")"


# ---- running them ----------------------------------------------------------------------------


@dataclass
class Fuzz:
    store: Store
    mnt: Path
    report: Report
    image: str = ""
    model: dict[bytes, bytes] = field(default_factory=dict)
    fields: dict[str, bytes] = field(default_factory=dict)
    outcomes: Counter = field(default_factory=Counter)
    examples: int = 0
    done: list = field(default_factory=list)
    reported: set = field(default_factory=set)
    touched: set = field(default_factory=set)  # new labels opened and closed without data

    @property
    def obj(self) -> Path:
        return self.mnt / "images" / self.image

    def label_path(self, name: bytes) -> bytes:
        return os.fsencode(self.obj / "labels") + b"/" + name

    def fresh(self) -> None:
        self.examples += 1
        self.image = f"fz{self.examples}:1"
        add_objects_in(self.store, self.image)
        self.model = {}
        self.touched = set()
        self.done = []
        self.fields = {"mediatype": b"application/vnd.oci.image.manifest.v1+json", "size": b"1234"}

    def mismatch(self, what: str) -> None:
        self.report.count("model mismatches")
        first = self.image not in self.reported
        self.reported.add(self.image)
        history = f" (operations so far: {self.done!r:.700})" if first and DEBUG else ""
        self.report.fail(f"{self.image}: {what}{history}")

    def run(self, op: tuple) -> None:
        kind = op[0]
        self.done.append(brief(op))
        self.report.count("operations")
        try:
            outcome, expected, applied = getattr(self, "op_" + kind.replace(" ", "_"))(*op[1:])
        except OSError as exc:  # raised outside the expected call: still an answer to count
            outcome, expected, applied = errname(exc), None, None
        self.outcomes[outcome] += 1
        if outcome == "EIO":
            self.report.count("EIO")
            self.report.fail(f"EIO from {brief(op)}")
        elif expected is not None and outcome not in expected:
            self.mismatch(f"{brief(op)} gave {outcome}, expected {sorted(expected)}")
        if applied is not None and outcome == OK:
            applied()
        if kind in TOUCHING:
            self.settle(op)

    def labels(self) -> dict[bytes, bytes]:
        with self.store.read() as tx:
            image = Images(tx, "default").get(self.image)
        return {os.fsencode(k): os.fsencode(v) for k, v in image.labels.items()}

    def settle(self, op: tuple) -> None:
        """The store agrees with the model after `op` (a value written without a newline is
        stored at release, just after close() returns: wait up to a second for it)."""
        deadline = time.monotonic() + 1.0
        while (stored := self.labels()) != self.model and time.monotonic() < deadline:
            time.sleep(0.01)
        if stored != self.model:
            extra = sorted(set(stored) - set(self.model))[:2]
            missing = sorted(set(self.model) - set(stored))[:2]
            changed = [k for k in stored.keys() & self.model.keys() if stored[k] != self.model[k]]
            self.mismatch(
                f"after {brief(op)}: the store has extra {extra}, misses {missing}, "
                f"differs on {changed[:2]}"
            )
            self.model = stored  # go on from what the store holds

    def op_write(
        self, key: bytes, chunks: list[bytes], flags: str, offsets: str, rnd: Random
    ) -> Outcome:
        data = b"".join(chunks)
        value = data.removesuffix(b"\n")
        exists = key in self.model
        valid = len(key) + len(value) <= LABEL_MAX
        if flags == "excl" and exists:
            expected = {"EEXIST"}
        elif flags == "no creat" and not exists:
            expected = {"ENOENT"}
        elif not valid:
            expected = (
                {"EINVAL", "EFBIG"}
                if data.endswith(b"\n") or len(data) > LABEL_MAX
                else {OK, "EINVAL"}
            )
        elif all(0x21 <= c <= 0x7E for c in value):
            expected = {OK}
        else:
            expected = {OK, "EINVAL"}
        outcome = self._write(self.label_path(escape(key)), chunks, FLAGS[flags], offsets, rnd)

        def apply() -> None:
            if not valid:  # accepted at write(), dropped at release (docs: the log says why)
                return
            if not data:  # opened and closed: like touch, it changes nothing
                if key not in self.model:
                    self.touched.add(key)
                return
            if value:
                self.model[key] = value
            else:
                self.model.pop(key, None)

        return outcome, expected, apply

    def _write(
        self,
        path: bytes,
        chunks: list[bytes],
        flags: int,
        offsets: str = "sequential",
        rnd: Random | None = None,
    ) -> str:
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            return errname(exc)
        outcome = OK
        try:
            at = 0
            for chunk in chunks:
                if not chunk:
                    continue
                if offsets == "random" and rnd is not None:
                    where = rnd.randrange(1 << 20)
                else:
                    where = 0 if offsets == "zero" else at
                os.pwrite(fd, chunk, where) if not flags & os.O_APPEND else os.write(fd, chunk)
                at += len(chunk)
        except OSError as exc:
            outcome = errname(exc)
        finally:
            try:
                os.close(fd)
            except OSError as exc:
                outcome = errname(exc) if outcome == OK else outcome
        return outcome

    def op_raw_write(self, name: bytes, value: bytes) -> Outcome:
        key = unescape(name)
        expected = {"EINVAL"} if key is None else {OK, "EINVAL"}
        if key is not None and len(key) + len(value) <= LABEL_MAX and b"\0" not in key:
            expected = {OK}
        outcome = self._write(self.label_path(name), [value + b"\n"], FLAGS[">"])

        def apply() -> None:
            if key is not None:
                self.model[key] = value

        return outcome, expected, apply

    def op_rm(self, key: bytes) -> Outcome:
        try:
            os.unlink(self.label_path(escape(key)))
            outcome = OK
        except OSError as exc:
            outcome = errname(exc)
        return outcome, {OK} if key in self.model else {"ENOENT"}, lambda: self.model.pop(key, None)

    def op_setxattr(self, key: bytes, value: bytes) -> Outcome:
        name = b"user." + key
        try:
            os.setxattr(self.obj, name, value)
            outcome = OK
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the name, refused by Python
            if isinstance(exc, ValueError):
                return "NUL in a name (not sent)", None, None
            outcome = errname(exc)
        valid = len(key) + len(value) <= LABEL_MAX
        if len(name) > 255:
            expected = {"ERANGE"}
        elif not valid:
            expected = {"EINVAL", "E2BIG", "ENOSPC"}
        else:
            expected = {OK} if all(0x21 <= c <= 0x7E for c in value) else {OK, "EINVAL"}

        def apply() -> None:
            if value:
                self.model[key] = value
            else:
                self.model.pop(key, None)

        return outcome, expected, apply

    def op_removexattr(self, key: bytes) -> Outcome:
        try:
            os.removexattr(self.obj, b"user." + key)
            outcome = OK
        except ValueError:
            return "NUL in a name (not sent)", None, None
        except OSError as exc:
            outcome = errname(exc)
        present = {OK} if key in self.model else {"ENODATA"}
        return (
            outcome,
            {"ERANGE"} if len(key) + 5 > 255 else present,
            lambda: self.model.pop(key, None),
        )

    def op_read(self, key: bytes, offset: int, size: int) -> Outcome:
        path = self.label_path(escape(key))
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                got = os.pread(fd, size, offset)
            finally:
                os.close(fd)
        except OSError as exc:
            return errname(exc), {"ENOENT"} if key not in self.model else {OK}, None
        if key not in self.model:
            # a new label opened and closed without a value exists, empty, until the daemon
            # handles its release, just after close() returns
            if key in self.touched and got == b"":
                return OK, {OK}, None
            return OK, {"ENOENT"}, None
        want = (self.model[key] + b"\n")[offset : offset + size]
        if got != want:
            at = next((i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w), None)
            self.mismatch(
                f"read {key!r} at {offset}+{size}: {len(got)} bytes, the model {len(want)}; "
                f"first difference at {at}: {got[at or 0 :][:20]!r} for {want[at or 0 :][:20]!r}"
            )
        return OK, {OK}, None

    def op_mv(self, a: bytes, b: bytes) -> Outcome:
        try:
            os.rename(self.label_path(escape(a)), self.label_path(escape(b)))
            outcome = OK
        except OSError as exc:
            outcome = errname(exc)
        if a not in self.model:
            expected = {"ENOENT"}
        else:  # the new key with the value must fit in the limit
            expected = {OK} if len(b) + len(self.model[a]) <= LABEL_MAX else {"EINVAL"}

        def apply() -> None:
            self.model[b] = self.model.pop(a)

        return outcome, expected, apply

    def op_field(self, name: str, value: bytes) -> Outcome:
        outcome = self._write(os.fsencode(self.obj / name), [value + b"\n"], FLAGS[">"])
        if name == "size":
            ok = (
                value.isdigit()
                and not value.startswith(b"0")
                and len(value) <= 19
                and int(value) < 1 << 63
            )
        elif name == "digest":
            algo, _, hexpart = value.partition(b":")
            ok = (
                algo == b"sha256"
                and len(hexpart) == 64
                and all(c in b"0123456789abcdef" for c in hexpart)
            )
        else:
            ok = 0 < len(value) <= 1024

        def apply() -> None:
            self.fields[name] = value

        return outcome, {OK} if ok else {"EINVAL"}, apply

    def op_big(self, target: str, size: int) -> Outcome:
        path = self.obj / "labels" / "big" if target == "label" else self.obj / target
        chunk = b"9" * (1 << 20)
        chunks = [chunk] * (size >> 20) + [b"9" * (size & ((1 << 20) - 1)) + b"\n"]
        outcome = self._write(os.fsencode(path), chunks, FLAGS[">"])
        self.report.count("writes of 5 kB to 24 MB")
        return outcome, {"EINVAL", "EFBIG"}, None

    def op_listxattr(self) -> Outcome:
        try:
            names = os.listxattr(self.obj)
        except OSError as exc:
            return errname(exc), {OK}, None
        listed = {os.fsencode(n).removeprefix(b"user.") for n in names}
        if not listed <= set(self.model):
            self.mismatch(
                f"listxattr lists {sorted(listed - set(self.model))[:3]} not in the model"
            )
        return OK, {OK}, None

    # ---- after each example: the store and the mount against the model ------------------------

    def compare(self) -> None:
        self.report.count("examples")
        listed = {unescape(n) for n in os.listdir(os.fsencode(self.obj / "labels"))}
        if listed != set(self.model):
            self.mismatch(f"the mount lists {len(listed)} labels, the model has {len(self.model)}")
        for key, value in self.model.items():
            try:
                with open(self.label_path(escape(key)), "rb") as f:
                    got = f.read()
            except OSError as exc:
                self.mismatch(f"cat {key!r}: {exc}")
                continue
            if got != value + b"\n":
                self.mismatch(f"cat {key!r} gives {got[:40]!r}, the model {value[:40]!r}")
        done = subprocess.run(
            ["getfattr", "-d", "--absolute-names", str(self.obj)], capture_output=True
        )
        self.report.count("getfattr -d")
        if done.returncode != 0:
            self.report.count("getfattr -d failed")
            if b"Input/output error" in done.stderr:
                self.report.count("EIO")
            self.report.fail(
                f"getfattr -d {self.image}: {done.stderr.decode(errors='replace').strip()[:200]}"
            )


def add_objects_in(store: Store, name: str) -> None:
    from ..images import Descriptor, Image
    from .rig import DIGEST, MANIFEST

    with store.write() as tx:
        Images(tx, "default").create(Image(name, Descriptor(MANIFEST, DIGEST, 1234)))


def fuzz(rig: Rig, short: bool) -> Report:
    report = Report("fuzzed operations")
    path = rig.store()
    add_objects(path, images=("seed:1",))
    daemon = rig.mount(path)
    report.figures = {"examples": 0, "operations": 0, "EIO": 0, "model mismatches": 0}
    with Store.open(path) as store:
        state = Fuzz(store, daemon.mountpoint, report)

        @settings(
            max_examples=300 if short else 3000,
            derandomize=short,  # the CI form runs the same examples every time
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.lists(keys, min_size=1, max_size=4), st.data())
        def example(pool: list[bytes], data: st.DataObject) -> None:
            state.fresh()
            for op in data.draw(st.lists(operations(pool), min_size=1, max_size=12)):
                state.run(op)
            state.compare()

        example()
    alive = daemon.proc.poll() is None
    report.figures["daemon alive"] = "yes" if alive else "no"
    if not alive:
        report.fail(f"the daemon died: exit status {daemon.proc.returncode}")
    report.figures["refusals"] = sum(n for o, n in state.outcomes.items() if o != OK)
    report.figures["errnos"] = " ".join(
        f"{o}:{n}" for o, n in state.outcomes.most_common() if o != OK
    )
    status = daemon.stop()
    if alive and status != 0:
        report.fail(f"the daemon exited {status}")
    report.figures["daemon errors logged"] = len(daemon.errors())
    return report
