"""The mount's way to wait (metafs/fs/offload.py), in a real trio loop with real threads: a
handler that waits does not stop the others, handlers take turns at the store, and what a
handler raises or returns reaches its caller."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import trio

from metafs.fs.offload import Offload

pytestmark = pytest.mark.store
POOL = ThreadPoolExecutor(4)  # stands in for gRPC's threads: a call answered from elsewhere


def begun(fn, *args) -> Future:
    return POOL.submit(fn, *args)


def test_a_waiting_handler_lets_the_others_run():
    offload = Offload()
    events: list[str] = []
    release = threading.Event()

    def slow() -> str:
        events.append("slow begins")
        offload.result(lambda: begun(release.wait, 5))  # as long as the test says
        events.append("slow ends")
        return "slow"

    def quick(n: int) -> int:
        events.append(f"quick {n}")
        if len(events) == 3:
            release.set()
        return n * 10

    async def main() -> list[object]:
        results: list[object] = []

        async def one(fn, *args) -> None:
            results.append(await offload.run(fn, *args))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(one, slow)
            await trio.sleep(0.05)
            for n in (1, 2):
                nursery.start_soon(one, quick, n)
        return results

    results = trio.run(main)
    assert events[0] == "slow begins" and events[-1] == "slow ends"
    assert sorted(events[1:3]) == ["quick 1", "quick 2"]
    assert sorted(map(str, results)) == ["10", "20", "slow"]
    assert offload.waiting == 0


def test_handlers_take_turns_at_the_store():
    offload = Offload()
    inside: list[int] = []
    overlaps: list[tuple[int, int]] = []

    def handler(n: int) -> None:
        offload.turn()
        if inside:
            overlaps.append((inside[0], n))
        inside.append(n)
        offload.result(lambda: begun(time.sleep, 0.02))
        offload.turn()  # again in the same handler: it has its turn already
        offload.pause(0.02)
        inside.remove(n)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for n in range(5):
                nursery.start_soon(offload.run, handler, n)

    started = time.monotonic()
    trio.run(main)
    assert overlaps == [] and inside == []
    assert time.monotonic() - started >= 5 * 0.04


def test_errors_reach_the_caller_and_the_greenlets_serve_again():
    offload = Offload()

    def failing() -> None:
        offload.pause(0.001)
        raise ValueError("bad value")

    def caught() -> str:
        try:
            offload.result(lambda: begun(int, "not a number"))  # raised by the call
        except ValueError as exc:
            return f"caught {exc}"
        return "not raised"

    async def main() -> list[str]:
        out = []
        for _ in range(3):
            with pytest.raises(ValueError, match="bad value"):
                await offload.run(failing)
            out.append(await offload.run(caught))
        return out

    assert trio.run(main) == ["caught invalid literal for int() with base 10: 'not a number'"] * 3
    assert len(offload._idle) == 1  # one greenlet served every call


def test_a_cancelled_handler_gives_up_its_turn():
    offload = Offload()
    release = threading.Event()

    def holder() -> None:
        offload.turn()
        offload.result(lambda: begun(release.wait, 5))

    def waiter() -> None:
        offload.turn()  # cancelled while waiting for the holder's turn

    def later() -> str:
        offload.turn()
        return "got the turn"

    async def main() -> str:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(offload.run, holder)
            await trio.sleep(0.02)
            with trio.move_on_after(0.05) as scope:
                await offload.run(waiter)
            assert scope.cancelled_caught
            release.set()
        with trio.fail_after(2):  # a turn left held would never come
            return await offload.run(later)

    assert trio.run(main) == "got the turn"


def test_outside_a_handler_calls_are_waited_for_in_place():
    offload = Offload()
    offload.turn()  # nothing to wait for
    assert offload.result(lambda: begun(threading.get_ident)) != threading.get_ident()
    offload.pause(0.001)
    assert offload.calls == 0
