"""The cycle collector's pause around bulk jobs (imports, a whole plan's flag refresh)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from chaser.collector import collector_paused


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_it_turns_the_collector_back_on_only_when_the_last_job_holding_it_ends() -> None:
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()  # a second job (another thread's import, the tick's refresh) overlaps
    assert not gc.isenabled()
    first.__exit__(None, None, None)  # the first ends while the second still runs
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_it_turns_the_collector_back_on_when_the_job_fails() -> None:
    with pytest.raises(ValueError), collector_paused():
        assert not gc.isenabled()
        raise ValueError("the job failed")
    assert gc.isenabled()


def test_it_leaves_off_a_collector_something_else_turned_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_it_keeps_count_across_threads() -> None:
    inside, release = threading.Barrier(5), threading.Event()

    def job() -> None:
        with collector_paused():
            inside.wait()
            release.wait(timeout=10)

    threads = [threading.Thread(target=job) for _ in range(4)]
    for t in threads:
        t.start()
    inside.wait()  # all four jobs hold the pause
    assert not gc.isenabled()
    release.set()
    for t in threads:
        t.join(timeout=10)
    assert gc.isenabled()
