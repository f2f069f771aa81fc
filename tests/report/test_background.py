"""Files written in the background: in order, a bounded number waiting, failures told by flush()."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ctangel.errors import OutputError
from ctangel.report.background import BackgroundWriter


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ctangel-write")]


def test_files_are_written_in_order_by_one_thread_that_ends_at_flush(tmp_path: Path) -> None:
    order: list[str] = []
    threads: set[str] = set()

    def write(path: Path) -> None:
        threads.add(threading.current_thread().name)
        order.append(path.name)
        path.write_text("x")

    files = BackgroundWriter(max_pending=2)
    for k in range(6):
        files.submit(tmp_path / f"{k}.txt", write)
    files.flush()
    assert order == [f"{k}.txt" for k in range(6)] and all((tmp_path / f"{k}.txt").is_file() for k in range(6))
    assert len(threads) == 1 and threading.current_thread().name not in threads
    assert _writer_threads() == []


def test_at_most_max_pending_files_wait(tmp_path: Path) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(path: Path) -> None:
        started.set()
        release.wait(timeout=10)

    files = BackgroundWriter(max_pending=2)
    files.submit(tmp_path / "a", slow)
    files.submit(tmp_path / "b", slow)
    assert started.wait(timeout=10)
    third = threading.Thread(target=files.submit, args=(tmp_path / "c", slow))
    third.start()
    third.join(timeout=0.3)
    assert third.is_alive()  # waits for room: the first job has not finished
    release.set()
    third.join(timeout=10)
    assert not third.is_alive()
    files.flush()


def test_flush_raises_the_first_failure_after_trying_the_rest(tmp_path: Path) -> None:
    def write(path: Path) -> None:
        if path.name.startswith("bad"):
            raise OSError(28, "No space left on device")
        path.write_text("x")

    files = BackgroundWriter(max_pending=1)
    for name in ("ok1", "bad1", "ok2", "bad2", "ok3"):
        files.submit(tmp_path / name, write)  # a failure does not stop the queue
    with pytest.raises(OutputError, match=r"bad1: cannot be written .*No space left") as caught:
        files.flush()
    assert isinstance(caught.value.__cause__, OSError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok1", "ok2", "ok3"]
    files.flush()  # told once; the writer goes on
    files.submit(tmp_path / "ok4", write)
    files.flush()
    assert (tmp_path / "ok4").is_file()
