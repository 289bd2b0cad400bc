"""Machine-local wake-ups: a job's end reaches every listening web process at once."""

import asyncio
import socket

import pytest

from generation import wakeups


def _uvloop_run(coro):
    return pytest.importorskip("uvloop").run(coro)


# The web server runs on uvloop (uvicorn's default when installed); tests also run plain asyncio.
loops = pytest.mark.parametrize("run_loop", [asyncio.run, _uvloop_run], ids=["asyncio", "uvloop"])


@pytest.fixture
def folder(tmp_path, monkeypatch):
    path = tmp_path / "wake"
    monkeypatch.setattr(wakeups, "directory", lambda channel=wakeups.WATCHERS: path / channel)
    return path / wakeups.WATCHERS


def test_enabled_only_for_sqlite_without_redis(settings, db):
    from django.db import connection

    settings.REDIS_URL = ""
    assert wakeups.enabled() is (connection.vendor == "sqlite")
    settings.REDIS_URL = "redis://127.0.0.1:6379/9"
    assert wakeups.enabled() is False


@loops
def test_every_listener_is_woken_and_dead_ones_are_removed(folder, run_loop):
    async def run():
        woken = [asyncio.Event(), asyncio.Event()]
        listeners = [await wakeups.listen(event.set) for event in woken]
        assert all(listeners) and len(list(folder.iterdir())) == 2
        # A socket file whose process is gone: nobody is bound to it.
        dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        dead.bind(str(folder / "1-dead.sock"))
        dead.close()
        await asyncio.get_running_loop().run_in_executor(None, wakeups.send, "job-1")
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in woken)), 2)
        assert sorted(p.name for p in folder.iterdir()) == sorted(l.path.name for l in listeners)
        for listener in listeners:
            listener.close()
        assert list(folder.iterdir()) == []

    run_loop(run())


@loops
def test_a_full_queue_does_not_block_the_sender(folder, run_loop):
    async def run():
        listener = await wakeups.listen(lambda: None)
        loop = asyncio.get_running_loop()
        listener.pause()  # a watcher too busy to read: its queue fills
        await loop.run_in_executor(None, lambda: [wakeups.send(f"job-{i}") for i in range(200)])
        assert listener.path.exists()  # a full queue is not a dead listener
        listener.close()

    run_loop(run())


def test_send_without_listeners_is_harmless(folder):
    wakeups.send("job-1")  # no web process has listened yet: nothing to do, nothing raised
    assert not folder.exists()


def test_the_queue_reader_returns_at_a_wake_up_or_after_its_timeout(folder):
    import threading
    import time

    waiter = wakeups.Waiter(wakeups.QUEUE)
    assert waiter.listening
    started = time.monotonic()
    waiter.wait(0.2)  # nothing sent
    assert 0.15 <= time.monotonic() - started < 1.0
    threading.Timer(0.1, wakeups.send, ("job-1", wakeups.QUEUE)).start()
    started = time.monotonic()
    waiter.wait(10)
    assert time.monotonic() - started < 2.0  # woken, not timed out
    for _ in range(3):
        wakeups.send("queued", wakeups.QUEUE)  # sent while nobody waited: the next wait returns at once
    started = time.monotonic()
    waiter.wait(10)
    waiter.wait(0.2)  # and all of them were consumed by that one
    assert 0.15 <= time.monotonic() - started < 2.0
