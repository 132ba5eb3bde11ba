"""`contextmanager` and `suppress` as contextlib has them, for the modules every command loads.

contextlib imports functools and collections: about 2.5 ms, a quarter of what a one-shot
`metafs images ls -q` may take (docs/performance.md). These two do the same for what metafs
uses them for: a generator that yields once, and exceptions to ignore.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager
    from typing import Any, ParamSpec, TypeVar

    P = ParamSpec("P")
    T = TypeVar("T")


def contextmanager(func: Callable[P, Iterator[T]]) -> Callable[P, AbstractContextManager[T]]:
    """contextlib.contextmanager: `func` yields once; what it yields is the `as` value, and an
    exception of the `with` block is raised inside it at the `yield`."""

    def make(*args: P.args, **kwargs: P.kwargs) -> AbstractContextManager[T]:
        return _GeneratorContext(func(*args, **kwargs))

    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(make, name, getattr(func, name))
    make.__wrapped__ = func  # type: ignore[attr-defined]
    return make


class _GeneratorContext:
    __slots__ = ("_gen",)

    def __init__(self, gen: Any) -> None:
        self._gen = gen

    def __enter__(self) -> Any:
        try:
            return next(self._gen)
        except StopIteration:
            raise RuntimeError("generator didn't yield") from None

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> bool:
        if exc is None:
            try:
                next(self._gen)
            except StopIteration:
                return False
            raise RuntimeError("generator didn't stop")
        try:
            self._gen.throw(exc)
        except StopIteration as stop:
            return stop is not exc  # the generator caught the exception: suppressed
        except BaseException as raised:
            if raised is exc:
                return False  # the with statement raises it again, with its traceback
            raise
        raise RuntimeError("generator didn't stop after throw()")


class suppress:  # noqa: N801  (named as contextlib's)
    """contextlib.suppress: the `with` block's exceptions of these kinds are ignored."""

    __slots__ = ("_kinds",)

    def __init__(self, *kinds: type[BaseException]) -> None:
        self._kinds = kinds

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: object
    ) -> bool:
        return kind is not None and issubclass(kind, self._kinds)
