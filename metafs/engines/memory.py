"""An engine in memory: a sorted list of keys, private to one process and gone when closed.

It keeps the whole contract (snapshots, one writer, atomic commit) in the simplest way: a
committed state is never changed, a writer works on its own copy and a commit swaps it in.
A write therefore costs a copy of the whole store: it is meant for small stores — tests of
the bucket API against a second engine, and snapshots loaded from elsewhere (a bolt file).
`open_engine("memory://")` makes a new, empty one.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Iterator

from ..errors import InvalidArgument


class _State:
    """One committed state: keys in order, and the values by key. Never changed once
    committed."""

    __slots__ = ("keys", "values")

    def __init__(self, keys: list[bytes], values: dict[bytes, bytes]) -> None:
        self.keys = keys
        self.values = values

    def get(self, key: bytes) -> bytes | None:
        return self.values.get(key)

    def items(self, start: bytes = b"", stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        keys, values = self.keys, self.values
        pos = bisect.bisect_left(keys, start)
        while pos < len(keys):
            key = keys[pos]
            if stop is not None and key >= stop:
                return
            # A writer may change its own state while this runs (outside the range): find
            # the place again after the key just given.
            yield key, values[key]
            if pos >= len(keys) or keys[pos] != key:
                pos = bisect.bisect_right(keys, key)
            else:
                pos += 1


class MemoryReader:
    __slots__ = ("_state",)

    def __init__(self, state: _State) -> None:
        self._state = state

    def get(self, key: bytes) -> bytes | None:
        return self._state.get(key)

    def items(self, start: bytes = b"", stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        return self._state.items(start, stop)

    def close(self) -> None:
        pass


class MemoryWriter(MemoryReader):
    __slots__ = ("_engine", "_open")

    def __init__(self, engine: MemoryEngine) -> None:
        base = engine._state
        super().__init__(_State(list(base.keys), dict(base.values)))
        self._engine = engine
        self._open = True

    def put(self, key: bytes, value: bytes) -> None:
        state = self._state
        if key not in state.values:
            bisect.insort(state.keys, key)
        state.values[key] = bytes(value)

    def delete(self, key: bytes) -> None:
        state = self._state
        if state.values.pop(key, None) is not None:
            del state.keys[bisect.bisect_left(state.keys, key)]

    def delete_range(self, start: bytes, stop: bytes) -> None:
        state = self._state
        low, high = bisect.bisect_left(state.keys, start), bisect.bisect_left(state.keys, stop)
        for key in state.keys[low:high]:
            del state.values[key]
        del state.keys[low:high]

    def commit(self) -> None:
        if self._open:
            self._engine._state = self._state
            self._engine._generation += 1
            self._end()

    def abort(self) -> None:
        self._end()

    close = abort

    def _end(self) -> None:
        if self._open:
            self._open = False
            self._engine._lock.release()


class MemoryEngine:
    def __init__(self, location: str = "memory://", *, readonly: bool = False) -> None:
        self.location = location
        self.readonly = readonly
        self._state = _State([], {})
        self._generation = 0
        self._lock = threading.Lock()

    def reader(self) -> MemoryReader:
        return MemoryReader(self._state)

    def writer(self) -> MemoryWriter:
        if self.readonly:
            raise InvalidArgument(f'store "{self.location}" is open read-only')
        self._lock.acquire()
        return MemoryWriter(self)

    def generation(self) -> int:
        return self._generation

    def sync(self) -> None:
        pass

    def backup(self, dest: str) -> None:
        raise InvalidArgument(f'store "{self.location}" is in memory: nothing to back up')

    def space(self) -> tuple[int, int]:
        """The bytes of keys and values; the memory the system has available."""
        values = self._state.values
        used = sum(len(key) + len(value) for key, value in values.items())
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return used, free

    def release_memory(self) -> None:
        pass

    def close(self) -> None:
        pass


def open_memory(
    locator: str,
    *,
    readonly: bool = False,
    create: bool = False,
    sync: bool = True,
    **options: int,
) -> MemoryEngine:
    """`memory://`: a new, empty store (`create` and `sync` mean nothing here)."""
    if options:
        raise InvalidArgument(f'store "{locator}" takes no option {", ".join(sorted(options))}')
    return MemoryEngine(locator, readonly=readonly)
