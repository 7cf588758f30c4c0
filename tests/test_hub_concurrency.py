"""Channel back-pressure, nursery failure semantics, cancel tokens and cross-thread futures."""
from __future__ import annotations

import hashlib
import threading

import gevent
import pytest

from oxy.errors import OperationCancelled
from oxy.hub import CancelToken, Channel, ChannelClosed, CrossFuture, ImportLoop, Nursery, run_blocking
from oxy.hub._native import Latch

T = 30.0


def run_in_fresh_hub(fn):
    """Run ``fn`` in a greenlet of a hub on a new native thread (isolates hub state)."""
    out: dict[str, object] = {}

    def body():
        try:
            with gevent.Timeout(T):
                out["value"] = gevent.spawn(fn).get()
        except BaseException as error:  # noqa: BLE001
            out["error"] = error
        finally:
            gevent.get_hub().destroy(True)

    t = threading.Thread(target=body)
    t.start()
    t.join(T + 5)
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]


# -- channel --------------------------------------------------------------------------------
def test_channel_send_blocks_when_full_until_a_receive():
    def scenario():
        ch: Channel[int] = Channel(3)
        log: list[str] = []

        def producer():
            for i in range(6):
                ch.send(i)
                log.append(f"sent {i} (buffered {len(ch)})")
            ch.close()

        p = gevent.spawn(producer)
        gevent.sleep(0)
        # the producer filled the channel and is parked on the 4th send
        assert log == [f"sent {i} (buffered {i + 1})" for i in range(3)] and not p.dead
        first = ch.receive()
        gevent.sleep(0)
        assert first == 0 and log[-1] == "sent 3 (buffered 3)" and len(log) == 4
        rest = list(ch)
        p.join()
        return first, rest, len(ch)

    first, rest, left = run_in_fresh_hub(scenario)
    assert (first, rest, left) == (0, [1, 2, 3, 4, 5], 0)


def test_channel_close_wakes_blocked_sender_and_drains_for_receivers():
    def scenario():
        ch: Channel[str] = Channel(1)
        ch.send("kept")
        outcome: list[object] = []

        def blocked_sender():
            try:
                ch.send("lost")
            except ChannelClosed as error:
                outcome.append(error)

        s = gevent.spawn(blocked_sender)
        gevent.sleep(0)
        ch.close()
        s.join()
        got = ch.receive()
        with pytest.raises(ChannelClosed):
            ch.receive()
        with pytest.raises(ChannelClosed):
            ch.send("late")
        with pytest.raises(TimeoutError):
            Channel(1).receive(timeout=0.01)
        return outcome, got

    outcome, got = run_in_fresh_hub(scenario)
    assert len(outcome) == 1 and isinstance(outcome[0], ChannelClosed) and got == "kept"


def test_channel_rejects_zero_capacity():
    with pytest.raises(ValueError):
        Channel(0)


# -- nursery ---------------------------------------------------------------------------------
def test_nursery_failure_cancels_siblings_and_propagates_the_first_error():
    def scenario():
        progress: list[str] = []

        def sibling(name):
            try:
                gevent.sleep(3600)
            except gevent.GreenletExit:
                progress.append(f"{name} cancelled")
                raise

        def failing():
            gevent.sleep(0)
            raise KeyError("boom")

        with pytest.raises(KeyError, match="boom"):
            with Nursery() as n:
                n.start(sibling, "a")
                n.start(sibling, "b")
                n.start(failing)
        return sorted(progress), n.token.cancelled

    progress, cancelled = run_in_fresh_hub(scenario)
    assert progress == ["a cancelled", "b cancelled"] and cancelled


def test_nursery_cancel_raises_operation_cancelled_and_stops_pool_work():
    with ImportLoop(cpu_threads=2) as loop:
        polled = Latch()

        def kernel(token):
            while True:
                polled.set()
                hashlib.sha256(b"k" * 4096).digest()
                token.raise_if_cancelled()

        def job():
            with Nursery() as n:
                n.start(run_blocking, kernel, n.token)
                n.start(lambda: (polled.wait(T), n.cancel("stop")))
            return "unreachable"

        with pytest.raises(OperationCancelled):
            loop.call(job, timeout=T)
        # the loop can still close: the kernel saw the token and its thread is free
    assert loop.shutdown_complete


def test_nursery_joins_all_children_on_success():
    def scenario():
        out = []
        with Nursery() as n:
            for i in range(5):
                n.start(lambda i=i: (gevent.sleep(0.001 * (5 - i)), out.append(i)))
        with pytest.raises(RuntimeError):
            n.start(print)
        return sorted(out)

    assert run_in_fresh_hub(scenario) == [0, 1, 2, 3, 4]


def test_nursery_owner_killed_takes_children_down():
    def scenario():
        children_done: list[str] = []

        def child():
            try:
                gevent.sleep(3600)
            finally:
                children_done.append("child ended")

        def owner():
            with Nursery() as n:
                n.start(child)
                gevent.sleep(3600)

        g = gevent.spawn(owner)
        gevent.sleep(0.01)
        g.kill()
        return children_done

    assert run_in_fresh_hub(scenario) == ["child ended"]


# -- cancel token ---------------------------------------------------------------------------
def test_cancel_token_is_polled_from_native_threads_and_cascades_to_children():
    parent = CancelToken()
    child = parent.child()
    detached = parent.child()
    detached.detach()
    calls: list[str] = []
    child.on_cancel(lambda: calls.append("child"))
    stopped = Latch()

    def worker():
        while not child.cancelled:
            pass
        with pytest.raises(OperationCancelled, match="shutting down"):
            child.raise_if_cancelled()
        stopped.set()

    t = threading.Thread(target=worker)
    t.start()
    assert parent.cancel("shutting down") and not parent.cancel("again")
    assert stopped.wait(T)
    t.join(T)
    assert calls == ["child"] and not detached.cancelled
    late: list[str] = []
    parent.on_cancel(lambda: late.append("ran now"))
    assert late == ["ran now"]


# -- cross-thread future ---------------------------------------------------------------------
def test_cross_future_wait_does_not_block_the_waiting_hub():
    fut: CrossFuture[str] = CrossFuture()

    def scenario():
        ticks = []

        def ticker():
            ticks.append(1)
            # set from a foreign thread only after this hub proved it keeps running
            threading.Thread(target=fut.set_result, args=("done",)).start()

        gevent.spawn(ticker)
        value = fut.result(T)
        return value, len(ticks)

    assert run_in_fresh_hub(scenario) == ("done", 1)


def test_cross_future_from_plain_threads_and_errors():
    fut: CrossFuture[int] = CrossFuture()
    assert not fut.wait(0.01)
    threading.Timer(0.01, fut.set_exception, args=(ValueError("bad"),)).start()
    with pytest.raises(ValueError):
        fut.result(T)
    assert not fut.set_result(1)
    seen = []
    fut.add_done_callback(lambda f: seen.append(f.exception()))
    assert isinstance(seen[0], ValueError)
