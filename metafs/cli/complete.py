"""Bash completion: `metafs __complete POINT LINE` prints the completions of the word under the
cursor, one a line: commands, verbs and options from the parser itself, and the names of
images, containers, leases, namespaces, content and snapshots from the store (the `--store`
and `-n` of the line). scripts/metafs-completion.bash is the glue for bash.

bash replaces only the part of the word after its last word-break character (`:` or `=`, in
$COMP_WORDBREAKS), so that part alone is printed, escaped for the shell.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .common import default_namespace, default_store_path
from .formats import emit

if TYPE_CHECKING:
    from ..store import Txn

_State = dict[str, str | None]  # the options of the line that the names depend on

# (group, verb, ...) as the parsers' prog names them -> what its positional arguments name
NAMES: dict[tuple[str, ...], str] = {
    ("images", "rm"): "images",
    ("images", "label"): "images",
    ("images", "tag"): "images",
    ("images", "put"): "images",
    ("containers", "info"): "containers",
    ("containers", "label"): "containers",
    ("containers", "rm"): "containers",
    ("containers", "create"): "images",
    ("leases", "rm"): "leases",
    ("namespaces", "rm"): "namespaces",
    ("namespaces", "label"): "namespaces",
    ("content", "rm"): "content",
    ("content", "label"): "content",
    ("snapshots", "rm"): "snapshots",
    ("snapshots", "label"): "snapshots",
    ("gc", "explain", "content"): "content",
    ("gc", "explain", "lease"): "leases",
    ("gc", "explain", "snapshot"): "snapshotter, snapshots",
}


def main(args: list[str]) -> int:
    from . import parser

    point, line = int(args[0]), args[1]
    breaks = os.environ.get("COMP_WORDBREAKS", "\"'><=;|&(:")
    words, raw = _split(line[:point])
    cur = words.pop()
    keep = _kept_prefix(raw, breaks)
    quoted = raw[:1] in ("'", '"')
    found = sorted(c for c in set(_candidates(parser([]), words, cur)) if c.startswith(cur))
    emit("".join(f"{c[keep:] if quoted else _escape(c[keep:])}\n" for c in found))
    return 0


def _candidates(top: argparse.ArgumentParser, words: list[str], cur: str) -> Iterable[str]:
    state: _State = {"store": None, "namespace": None, "snapshotter": None}
    current, positionals, i = top, 0, 1
    while i < len(words):
        word = words[i]
        action = _option(current, word) or _option(top, word)
        if action is not None:
            takes_value = action.nargs != 0 and "=" not in word
            if takes_value and i + 1 < len(words):
                _remember(state, action, words[i + 1])
            elif "=" in word:
                _remember(state, action, word.split("=", 1)[1])
            i += 2 if takes_value else 1
            continue
        sub = _subparsers(current)
        if sub is not None and word in sub.choices:
            current, positionals = sub.choices[word], 0
        elif not word.startswith("-"):
            positionals += 1
        i += 1
    if len(words) > 1:
        action = _option(current, words[-1]) or _option(top, words[-1])
        if action is not None and action.nargs != 0 and "=" not in words[-1]:
            return _values(action, state)
    if cur.startswith("-"):
        options = [o for a in current._actions for o in a.option_strings if o.startswith("--")]
        return options + ["--store", "--namespace"]
    sub = _subparsers(current)
    if sub is not None:
        return [choice.dest for choice in sub._choices_actions]
    path = tuple(current.prog.split()[1:])
    return _names(NAMES.get(path, ""), positionals, state)


def _option(parser: argparse.ArgumentParser, word: str) -> argparse.Action | None:
    return parser._option_string_actions.get(word.split("=", 1)[0] if "=" in word else word)


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _remember(state: _State, action: argparse.Action, value: str) -> None:
    dest = {"mount_store": "store", "mount_namespace": "namespace"}.get(action.dest, action.dest)
    if dest in state:
        state[dest] = value


def _values(action: argparse.Action, state: _State) -> list[str]:
    if action.choices is not None:
        return [str(choice) for choice in action.choices]
    if action.dest in ("namespace", "mount_namespace"):
        return _names("namespaces", 0, state)
    return []  # a path or a free value: bash completes file names


def _names(kind: str, position: int, state: _State) -> list[str]:
    """Names from the store, read-only; none when there is no store or it cannot be read."""
    if not kind:
        return []
    kinds = kind.split(", ")
    kind = kinds[min(position, len(kinds) - 1)]
    store_dir = Path(state["store"] or default_store_path())
    if not (store_dir / "data.mdb").exists():
        return []
    namespace = state["namespace"] or default_namespace()
    try:
        from ..store import Store

        with Store.open(store_dir, readonly=True) as store, store.read() as tx:
            return list(_LISTERS[kind](tx, namespace, state))
    except Exception:  # a completion must never print an error into the command line
        return []


def _images(tx: Txn, ns: str, state: _State) -> Iterable[str]:
    from ..images import Images

    return Images(tx, ns).names()


def _containers(tx: Txn, ns: str, state: _State) -> Iterable[str]:
    from ..containers import Containers

    return (c.id for c in Containers(tx, ns).list())


def _leases(tx: Txn, ns: str, state: _State) -> Iterable[str]:
    from ..leases import Leases

    return (lease.id for lease in Leases(tx, ns).list())


def _namespaces(tx: Txn, ns: str, state: _State) -> Iterable[str]:
    from ..namespaces import Namespaces

    return Namespaces(tx).list()


def _content(tx: Txn, ns: str, state: _State) -> Iterable[str]:
    from ..content import Content

    return (blob.digest for blob in Content(tx, ns).list())


def _snapshots(tx: Txn, ns: str, state: _State) -> Iterable[str]:
    from ..snapshots import Snapshots
    from .options import default_snapshotter

    return Snapshots(tx, ns).keys(state["snapshotter"] or default_snapshotter())


def _snapshotters(tx: Txn, ns: str, state: _State) -> Iterable[str]:
    from ..snapshots import Snapshots

    return {s.snapshotter for s in Snapshots(tx, ns).list()}


_LISTERS: dict[str, Callable[[Txn, str, _State], Iterable[str]]] = {
    "images": _images,
    "containers": _containers,
    "leases": _leases,
    "namespaces": _namespaces,
    "content": _content,
    "snapshots": _snapshots,
    "snapshotter": _snapshotters,
}


def _split(text: str) -> tuple[list[str], str]:
    """The words of a command line up to the cursor, as the shell would parse them (an open
    quote at the end is allowed); the last one is the word being completed (maybe empty).
    Also the raw text of that last word, as typed."""
    words: list[str] = []
    word, raw, quote, in_word = "", "", "", False
    i = 0
    while i < len(text):
        char = text[i]
        if not quote and char in " \t\n":
            if in_word:
                words.append(word)
            word, raw, in_word = "", "", False
            i += 1
            continue
        in_word = True
        raw += char
        if quote and char == quote:
            quote = ""
        elif not quote and char in "'\"":
            quote = char
        elif char == "\\" and quote != "'" and i + 1 < len(text):
            i += 1
            raw += text[i]
            word += text[i]
        else:
            word += char
        i += 1
    words.append(word)
    return words, raw


def _kept_prefix(raw: str, breaks: str) -> int:
    """How many characters of the parsed word bash keeps: those up to its last unquoted
    word-break character (not a quote: a quoted word is one word for completion)."""
    breaks = breaks.replace("'", "").replace('"', "")
    kept, parsed, quote, i = 0, 0, "", 0
    while i < len(raw):
        char = raw[i]
        if quote:
            if char == quote:
                quote = ""
            else:
                parsed += 1
        elif char in "'\"":
            quote = char
        elif char == "\\":
            i += 1
            parsed += 1
        else:
            parsed += 1
            if char in breaks:
                kept = parsed
        i += 1
    return kept


_SPECIAL = re.compile(r"([^\w@%+=:,./-])")


def _escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text)
