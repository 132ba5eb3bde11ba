"""Handlers that wait for the store without stopping the mount's event loop.

The handlers are synchronous (operations.py). On a store reached through round trips (etcd; a
live node's containerd), each runs in a greenlet; when the store waits (`metafs.waiting`), the
greenlet switches back to the handler's trio task, which awaits what it waits for: the answer
to a call, a pause, or the store's turn. Meanwhile the loop serves other requests: those the
views answer from memory at once, those that need the store after the handlers before them. A
handler keeps the store's turn until it returns, so the store's code runs alone between two
waits, as it does in a command.

Costs, measured here: a kept greenlet is switched into in ~1 µs (making one costs ~7 µs;
greenback's `with_portal_run_sync`, which makes one per call, ~13 µs). A call is sent from the
loop's thread as a gRPC future, whose answer wakes trio through `run_sync_soon`: no worker
thread to hand it to (a thread made a round trip of etcd 250 -> 430 µs). While a call is under
way the wait for requests (wait.py) polls instead of sleeping, until `completed` says the
answer came: a sleeping loop must be woken, which cost ~0.4 ms a round trip in the mount.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import greenlet
import trio

from .. import waiting

T = TypeVar("T")


class _Wait:
    """What a handler's greenlet hands to its task to await."""

    __slots__ = ("awaitable",)

    def __init__(self, awaitable: Awaitable[Any]) -> None:
        self.awaitable = awaitable


class _Done:
    """A handler's outcome: what it returned, or what it raised."""

    __slots__ = ("value", "error")

    def __init__(self, value: Any, error: BaseException | None) -> None:
        self.value = value
        self.error = error


class _Handler(greenlet.greenlet):
    """A greenlet that runs handler calls one after another (see `_serve`)."""


def _serve(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    while True:
        try:
            done = _Done(fn(*args), None)
        except greenlet.GreenletExit:
            raise
        except BaseException as exc:
            done = _Done(None, exc)
        parent = greenlet.getcurrent().parent
        assert parent is not None  # the task's (Offload.run)
        fn, args = parent.switch(done)


class Offload(waiting.Waiting):
    """The mount's `Waiting`: installed with `waiting.install` by the daemon."""

    def __init__(self) -> None:
        self._turn = trio.Lock()
        self._holder: greenlet.greenlet | None = None  # the handler whose turn it is
        self._idle: list[_Handler] = []
        self.waiting = 0  # handlers waiting now (wait.py: then the loop never sleeps in poll)
        self.calls = 0  # calls under way (wait.py: the loop polls for their answers)
        self.completed = False  # an answer came that trio has not handed to its handler yet
        self.answered = trio.Event()  # set when the last call sent was answered

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a handler greenlet, awaiting what it waits for."""
        runner = self._idle.pop() if self._idle else _Handler(_serve)
        runner.parent = greenlet.getcurrent()
        try:
            out = runner.switch(fn, args)
            while type(out) is _Wait:
                self.waiting += 1
                try:
                    value = await out.awaitable
                except BaseException as exc:  # trio.Cancelled too: the handler unwinds
                    self.waiting -= 1
                    out = runner.throw(exc)
                else:
                    self.waiting -= 1
                    out = runner.switch(value)
        finally:
            if self._holder is runner:
                self._holder = None
                self._turn.release()
        assert type(out) is _Done
        self._idle.append(runner)
        if out.error is not None:
            raise out.error
        return out.value

    def turn(self) -> None:
        current = greenlet.getcurrent()
        if type(current) is not _Handler or self._holder is current:
            return  # outside a handler (the daemon starting), or its turn already
        try:
            self._turn.acquire_nowait()  # free: no pass through trio's scheduler
        except trio.WouldBlock:
            _await(current, self._turn.acquire())
        self._holder = current

    def result(self, start: Callable[[], waiting.Future]) -> Any:
        current = greenlet.getcurrent()
        if type(current) is not _Handler:
            return start().result()
        self.turn()
        future = start()
        if not future.done():
            answered = self.answered = trio.Event()
            token = trio.lowlevel.current_trio_token()

            def on_done(_future: object) -> None:  # in gRPC's thread
                if self.answered is answered:  # not a call given up (cancelled) long ago
                    self.completed = True  # for wait.py, which may set `answered` first
                token.run_sync_soon(answered.set)

            future.add_done_callback(on_done)
            self.calls += 1
            try:
                _await(current, answered.wait())
            except BaseException:  # cancelled: the mount is ending
                future.cancel()
                raise
            finally:
                self.calls -= 1
                self.completed = False
        return future.result()

    def pause(self, seconds: float) -> None:
        current = greenlet.getcurrent()
        if type(current) is not _Handler:
            time.sleep(seconds)
            return
        _await(current, trio.sleep(seconds))


def _await(current: greenlet.greenlet, awaitable: Awaitable[T]) -> T:
    """Await `awaitable` in the task of the handler running in `current`."""
    parent = current.parent
    assert parent is not None
    return parent.switch(_Wait(awaitable))
