"""The records of a cluster run: what counts as done, and how a study's outputs are put in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctangel.distributed.store import RunStore, StudyRecord

STUDY = {
    "study_id": "1.2",
    "series_id": "1.2.3",
    "input": "archive/P0/S0",
    "kind": "hu",
    "description": "CT",
    "n_slices": 1,
    "positive": True,
    "outputs": {"folder": "studies/PAT-0"},
    "slices": [
        {
            "index": 0,
            "source": "archive/P0/S0/IM000001.dcm",
            "positive": True,
            "lesion_probability": 0.8765,
            "lesion_area_px": 40,
            "lung_area_px": 900,
            "lung_box": [1.0, 2.0, 30.0, 40.0],
            "boxes": [{"box": [3.0, 4.0, 10.0, 12.0], "area_px": 40, "score": 0.8765}],
            "rows": 64,
            "cols": 64,
        }
    ],
    "added_by_a_later_version": {"kept": True},
}


def record(**changes: object) -> StudyRecord:
    fields: dict[str, object] = {
        "key": "k1",
        "name": "PAT-0",
        "fingerprint": "f1",
        "patient_id": "PAT-0",
        "study": STUDY,
        "probabilities": [0.876543],
        "pixel_area_mm2": 0.25,
    }
    fields.update(changes)
    return StudyRecord(**fields)  # type: ignore[arg-type]


def test_a_record_reads_back_as_the_study_it_holds(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.write_record(record())
    done = store.done("k1", "PAT-0", "f1")
    assert done is not None
    study = done.study_result()
    assert study.to_dict() == STUDY  # what the worker wrote, fields it did not know of included
    (s,) = study.slices
    assert (s.shape, s.lesion_area_px, s.lesion_probability) == ((64, 64), 40, 0.876543)
    assert s.boxes[0].box == (3.0, 4.0, 10.0, 12.0) and study.pixel_area_mm2 == 0.25


@pytest.mark.parametrize(
    ("content", "name", "fingerprint"),
    [
        (None, "PAT-0", "f1"),  # no record
        ('{"format": 1, "key": "k1", "na', "PAT-0", "f1"),  # cut short
        ("[]", "PAT-0", "f1"),  # not a record
        ("ok", "PAT-0", "other settings"),
        ("ok", "PAT-0-2", "f1"),  # named otherwise in this run
        ("failed", "PAT-0", "f1"),
    ],
)
def test_what_does_not_count_as_done(tmp_path: Path, content: str | None, name: str, fingerprint: str) -> None:
    store = RunStore(tmp_path)
    if content == "ok":
        store.write_record(record())
    elif content == "failed":
        store.write_record(record(study=None, error={"input": "x", "error": "bad"}))
    elif content is not None:
        store.records_dir.mkdir(parents=True)
        store.record_path("k1").write_text(content)
    assert store.done("k1", name, fingerprint) is None


def test_commit_replaces_an_earlier_attempts_outputs_then_writes_the_record(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    stale = tmp_path / "studies" / "PAT-0"
    stale.mkdir(parents=True)
    (stale / "half-written.png").write_bytes(b"")
    staging = store.new_staging("k1")
    (staging / "studies" / "PAT-0" / "overlays").mkdir(parents=True)
    (staging / "studies" / "PAT-0" / "montage.png").write_bytes(b"png")
    (staging / "masks").mkdir()
    (staging / "masks" / "PAT-0.nii.gz").write_bytes(b"nii")
    (staging / "results.partial.jsonl").write_text("{}\n")
    store.commit(staging, record())
    assert sorted(p.name for p in stale.iterdir()) == ["montage.png", "overlays"]
    assert (tmp_path / "masks" / "PAT-0.nii.gz").read_bytes() == b"nii"
    assert not (tmp_path / "results.partial.jsonl").exists() and not staging.exists()
    assert store.done("k1", "PAT-0", "f1") is not None
    assert store.committed_keys() == ["k1"]
