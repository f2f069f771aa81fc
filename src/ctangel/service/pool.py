"""The worker processes of one server: started with it, watched, replaced when one dies, stopped with it."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from dataclasses import replace
from typing import Final

from ctangel.service.config import ServiceConfig
from ctangel.service.privacy import service_logger
from ctangel.service.store import JobStore
from ctangel.service.worker import worker_main

log = service_logger

#: How often the pool looks at its workers, seconds.
WATCH_INTERVAL_S: Final = 1.0
#: A dead worker is replaced at most this often, seconds (a worker that cannot start must not spin).
RESPAWN_DELAY_S: Final = 5.0
#: How long a stopping worker may take to put its job back and exit before it is killed, seconds.
STOP_GRACE_S: Final = 10.0
#: How long the pool waits for a killed worker to be gone, seconds.
KILL_GRACE_S: Final = 3.0


class WorkerPool:
    """``config.workers`` worker processes started with the 'spawn' method (no state shared with the server
    but the job store); a worker that dies has its job requeued (see :class:`~ctangel.service.worker.Worker`
    for how often) and is replaced, unless it exited on request (SIGTERM, as when the whole process group
    is told to stop).

    Args:
        config: the service's configuration.
        store: the job store.
    """

    def __init__(self, config: ServiceConfig, store: JobStore) -> None:
        self.config = config
        self.store = store
        self._ctx = multiprocessing.get_context("spawn")
        self._closing = threading.Event()
        self._procs: list[multiprocessing.process.BaseProcess] = []
        self._spawned_at: list[float] = []
        self._reported: set[int] = set()
        self._watcher: threading.Thread | None = None

    @property
    def pids(self) -> list[int]:
        """The workers' process ids."""
        return [p.pid for p in self._procs if p.pid is not None]

    def start(self) -> None:
        """Start the workers and the thread that watches them."""
        for i in range(self.config.workers):
            self._procs.append(self._spawn(i))
            self._spawned_at.append(time.monotonic())
        self._watcher = threading.Thread(target=self._watch, name="ctangel-worker-watch", daemon=True)
        self._watcher.start()

    def _spawn(self, slot: int) -> multiprocessing.process.BaseProcess:
        proc = self._ctx.Process(
            target=worker_main,
            # Workers never check tokens: they do not get it.
            args=(replace(self.config, token=None), os.getpid(), logging.getLogger().getEffectiveLevel()),
            name=f"ctangel-worker-{slot}",
            daemon=True,
        )
        proc.start()
        log.info("worker %d started (slot %d)", proc.pid, slot)
        return proc

    def _watch(self) -> None:
        while not self._closing.wait(WATCH_INTERVAL_S):
            for slot, proc in enumerate(self._procs):
                if proc.is_alive() or self._closing.is_set():
                    continue
                if slot not in self._reported and proc.pid is not None:
                    requeued = self.store.requeue_running(proc.pid)
                    log.warning(
                        "worker %d stopped (exit code %s); %d job(s) back in the queue",
                        proc.pid,
                        proc.exitcode,
                        len(requeued),
                    )
                    self._reported.add(slot)
                if proc.exitcode == 0:
                    continue  # it was asked to stop (SIGTERM to the group: the server stops next)
                if time.monotonic() - self._spawned_at[slot] < RESPAWN_DELAY_S:
                    continue
                self._procs[slot] = self._spawn(slot)
                self._spawned_at[slot] = time.monotonic()
                self._reported.discard(slot)

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Ask the workers to stop (SIGTERM: a running job goes back to the queue), wait, then kill stragglers."""
        self._closing.set()
        if self._watcher is not None:
            self._watcher.join()
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + grace_s
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(KILL_GRACE_S)
            if proc.pid is not None:
                self.store.requeue_running(proc.pid)
        self._procs.clear()
        log.info("workers stopped")
