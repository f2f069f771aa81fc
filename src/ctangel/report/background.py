"""Output files written in one background thread while the pipeline goes on with the next slices."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Final

from ctangel.errors import OutputError

#: Files waiting to be written, at most; a caller with another one waits. Bounds memory: an overlay's job
#: holds its slice's grey values and masks (under 1 MiB at 512x512).
MAX_PENDING_FILES: Final = 8


class BackgroundWriter:
    """Writes files one at a time, in the order given, in a thread of its own.

    A job is a function that writes one file. :meth:`flush` waits until every job has run, and raises for
    the first that failed, so that a caller knows its files are on disk before it records them as written.
    The thread ends at each :meth:`flush` (the next job starts another), so none is left behind when a run
    stops between studies.

    Everything a job draws with Pillow's fonts must be drawn in jobs: the fonts are not shared between
    threads.

    Args:
        max_pending: jobs queued at most (see :data:`MAX_PENDING_FILES`).
    """

    def __init__(self, max_pending: int = MAX_PENDING_FILES) -> None:
        self.max_pending = max(1, max_pending)
        self._executor: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[Path, Future[None]]] = deque()
        self._failed: tuple[Path, Exception] | None = None

    def submit(self, path: Path, write: Callable[[Path], None]) -> None:
        """Queue ``write(path)``; waits while :attr:`max_pending` jobs are queued (:meth:`flush` tells failures)."""
        while len(self._pending) >= self.max_pending:
            self._settle()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ctangel-write")
        self._pending.append((path, self._executor.submit(write, path)))

    def flush(self) -> None:
        """Wait until every queued file is written.

        Raises:
            OutputError: a file could not be written: the first that failed (the later ones were still tried).
        """
        while self._pending:
            self._settle()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        failed, self._failed = self._failed, None
        if failed is not None:
            path, exc = failed
            raise OutputError(f"{path}: cannot be written ({exc}); check the output folder and the free space") from exc

    def _settle(self) -> None:
        path, future = self._pending.popleft()
        try:
            future.result()
        except Exception as exc:  # the thread's boundary: any failure is the file's, and flush() tells it
            if self._failed is None:
                self._failed = (path, exc)
