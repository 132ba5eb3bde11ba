"""Plain value classes: equality, repr and a changed copy over their `__slots__`.

What `dataclasses` gave the object kinds (Image, Container, ...), without importing it: its
import (inspect, ast, dis, tokenize...) was the largest part of a one-shot command's time.
Each class writes its own `__init__` and lists its fields, in order, as `__slots__`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see metafs/__init__.py
if TYPE_CHECKING:
    from typing import Any, Self


class Record:
    """Fields are the `__slots__` of the class, compared and shown in that order. Mutable,
    and so not hashable (as a dataclass with eq: defining `__eq__` sets `__hash__` to None)."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{self.__class__.__qualname__}({fields})"

    def replace(self, **changes: Any) -> Self:
        """A shallow copy with `changes` (as dataclasses.replace)."""
        unknown = changes.keys() - set(self.__slots__)
        if unknown:
            raise TypeError(f"{self.__class__.__name__} has no field {min(unknown)!r}")
        copy = object.__new__(self.__class__)
        for name in self.__slots__:
            object.__setattr__(copy, name, changes.get(name, getattr(self, name)))
        return copy


class FrozenRecord(Record):
    """A Record whose fields are set once, in `__init__` (with `object.__setattr__`):
    hashable."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of {self.__class__.__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of {self.__class__.__name__}")

    def __hash__(self) -> int:
        return hash(self._values())
