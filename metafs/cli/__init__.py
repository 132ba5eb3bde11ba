"""The `metafs` command line: ctr's verbs over the store, plus mount, import, dump and gc.

Each command group lives in its own module with a `register(subparsers)` function. A one-shot
command imports only the module of its group (scripts call metafs in loops: the imports are
most of a call's time), and a valid command line is parsed without argparse, by `matcher`
from a table read off these parsers (`grammar`, made by scripts/grammar); `metafs --help` and
usage errors build the argparse parsers, of all groups.
"""

from __future__ import annotations

import os
import sys

from .. import __version__, validation
from ..errors import MetafsError
from . import common, live

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    import argparse

# module -> the commands (with aliases) it registers, in the order --help lists them
GROUPS = {
    "images": ("images", "image", "i"),
    "containers": ("containers", "container", "c"),
    "namespaces": ("namespaces", "namespace", "ns"),
    "leases": ("leases", "lease"),
    "snapshots": ("snapshots", "snapshot"),
    "content": ("content",),
    "gc": ("gc",),
    "boltdb": ("import", "dump"),
    "backup": ("backup", "check"),
    "mount": ("mount", "umount", "unmount"),
    "tasks": ("tasks", "task", "t"),
}

GLOBAL_OPTIONS = ("--store", "-n", "--namespace", "--root", "--state", "--address")
GLOBAL_FLAGS = ("--containerd",)
OWN_OPTIONS = {"mount": GLOBAL_OPTIONS, "import": ("--namespace",)}


def parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser, or, when `argv` names a command, only that command's group."""
    import importlib

    from .argparser import Parser

    top = Parser(
        prog="metafs",
        description="containerd's container metadata on LMDB: a FUSE view and a ctr-like CLI.",
        epilog="Exit status: 0 done (images rm and content rm skip what does not exist with a "
        "'metafs: warning: ...' line, as ctr); 1 refused or failed, with one 'metafs: ...' line "
        "on stderr (a refused change leaves the store as it was); 2 bad usage; 141 the reader "
        "of the output went away (a pipe into head).",
    )
    top.add_argument("--version", action="version", version=f"metafs {__version__}")
    common.add_global_options(top)
    live.add_options(top)
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = _group_of(argv)
    for module in GROUPS if wanted is None else (wanted,):
        importlib.import_module(f".{module}", __name__).register(sub)
    return top


def _group_of(argv: list[str] | None) -> str | None:
    """The group module of the command `argv` names, if it names one before any help flag."""
    args = sys.argv[1:] if argv is None else argv
    i = _command_index(args)
    if i is None:
        return None
    return next((m for m, names in GROUPS.items() if args[i] in names), None)


def _command_index(args: list[str]) -> int | None:
    """Where the command word is, past the global options; None when an option that is not
    global comes first (--help, --version, a usage error)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in GLOBAL_OPTIONS:
            i += 2
        elif (
            arg in GLOBAL_FLAGS
            or arg.split("=", 1)[0] in GLOBAL_OPTIONS
            or (arg.startswith("-n") and arg != "-n")
        ):
            i += 1
        elif arg.startswith("-"):
            return None
        else:
            return i
    return None


def hoist_global_options(argv: list[str]) -> list[str]:
    """`--store` and `-n` are accepted after the command too (`metafs images ls -n NS`), where
    ctr takes them only before: they move in front of the command. Not past `--`, and not
    where the command has an option of that name itself (mount's -n and --store, import's
    --namespace), and not into the COMMAND of `containers create IMAGE ID COMMAND...` (there,
    only before IMAGE)."""
    start = _command_index(argv)
    if start is None:
        return argv
    own = OWN_OPTIONS.get(argv[start], ())
    head, rest, moved = argv[:start], [argv[start]], []
    creating = argv[start] in GROUPS["containers"] and argv[start + 1 : start + 2] == ["create"]
    i = start + 1 + creating
    rest += argv[start + 1 : i]
    while i < len(argv):
        arg = argv[i]
        if arg == "--" or (creating and not arg.startswith("-")):
            rest += argv[i:]
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and name not in own:
            if "=" in arg or i + 1 == len(argv):
                moved.append(arg)
                i += 1
            else:
                moved += argv[i : i + 2]
                i += 2
            continue
        if creating and "=" not in arg:  # every option of create takes a value
            rest += argv[i : i + 2]
            i += 2
            continue
        rest.append(arg)
        i += 1
    return head + moved + rest


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["__complete"]:  # for scripts/metafs-completion.bash
        from .complete import main as complete

        try:
            return complete(argv[1:])
        except BrokenPipeError:
            return _broken_pipe()
    argv = hoist_global_options(argv)
    from .matcher import match

    args = match(argv)
    if args is None:  # help, a usage error, or a form the matcher leaves to argparse
        args = parser(argv).parse_args(argv)
    live.resolve(args)
    try:
        validation.identifier(args.namespace, "namespace")
        return args.func(args) or 0
    except MetafsError as exc:
        print(f"metafs: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return _broken_pipe()
    except KeyboardInterrupt:
        return 130


def _broken_pipe() -> int:
    """The reader went away (`| head`): exit 141, as a shell reports a command killed by
    SIGPIPE, quietly; stdout is pointed at /dev/null so that Python's flush at exit does not
    complain again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


if __name__ == "__main__":
    sys.exit(main())
