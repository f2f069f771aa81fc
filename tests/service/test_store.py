"""The SQLite job store: FIFO claims, claims that fence out a stale worker, recovery of interrupted jobs."""

from __future__ import annotations

import threading
from pathlib import Path

from ctangel.service.store import JobRecord, JobStore


def add(store: JobStore, n: int) -> list[str]:
    ids = [f"{k:032x}" for k in range(n)]
    for k, job_id in enumerate(ids):
        store.add(JobRecord(id=job_id, filename=f"f{k}.zip", status="queued", created_at=1000.0 + k))
    return ids


def test_claims_oldest_first(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    ids = add(store, 4)
    claimed = [store.claim_next(f"c{k}", 1) for k in range(5)]
    assert [j.id for j in claimed if j is not None] == ids
    assert claimed[-1] is None
    assert all(j is not None and j.status == "running" and j.attempts == 1 for j in claimed[:4])


def test_concurrent_claims_take_each_job_once(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    ids = add(store, 40)
    taken: list[str] = []
    lock = threading.Lock()

    def claim(k: int) -> None:
        while (job := store.claim_next(f"claim-{k}", k)) is not None:
            with lock:
                taken.append(job.id)

    threads = [threading.Thread(target=claim, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == ids


def test_stale_claim_is_fenced_out(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    (job_id,) = add(store, 1)
    assert store.claim_next("old", 1) is not None
    assert store.requeue_running() == [job_id]  # a restart
    fresh = store.claim_next("new", 2)
    assert fresh is not None and fresh.attempts == 2
    assert not store.set_progress(job_id, "old", 0.5)
    assert not store.finish(job_id, "old", "done")
    assert store.set_progress(job_id, "new", 0.5)
    assert store.finish(job_id, "new", "done", summary={"patients": 1})
    done = store.get(job_id)
    assert done is not None and done.status == "done" and done.progress == 1.0 and done.summary == {"patients": 1}


def test_requeued_job_keeps_its_place(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    first, _ = add(store, 2)
    store.claim_next("a", 1)
    assert store.requeue_running(worker_pid=1) == [first]
    job = store.claim_next("b", 2)
    assert job is not None and job.id == first


def test_exhausted_job_fails(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    (job_id,) = add(store, 1)
    for k in range(3):
        store.claim_next(f"c{k}", 1)
        store.requeue_running()
    assert store.fail_exhausted(3, "interrupted too often") == [job_id]
    job = store.get(job_id)
    assert job is not None and job.status == "failed" and job.error == "interrupted too often"
    assert store.claim_next("late", 1) is None


def test_deleted_job_stops_its_worker(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    (job_id,) = add(store, 1)
    store.claim_next("c", 1)
    assert store.delete(job_id) is not None
    assert not store.set_progress(job_id, "c", 0.3)
    assert store.get(job_id) is None


def test_queue_position(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    ids = add(store, 3)
    store.claim_next("c", 1)
    positions = [store.queue_position(j) for j in (store.get(i) for i in ids) if j is not None]
    assert positions == [None, 1, 2]


def test_arrival_times_follow_arrival_order(tmp_path: Path) -> None:
    """Threads adding at once: ``created_at`` orders the jobs exactly as their arrival numbers do."""
    store = JobStore(tmp_path / "jobs.sqlite3")

    def add_some(k: int) -> None:
        for n in range(10):
            store.add(JobRecord(id=f"{k:016x}{n:016x}", filename="f.zip", status="queued"))

    threads = [threading.Thread(target=add_some, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    jobs = sorted(store.all(), key=lambda j: j.seq)
    created = [j.created_at for j in jobs]
    assert len(jobs) == 40 and created == sorted(created) and len(set(created)) == 40
