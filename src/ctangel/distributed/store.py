"""What a cluster run keeps under its output folder so that it can be resumed: one record per study.

Layout under the output folder, beside what :class:`~ctangel.report.OutputWriter` writes::

    .ctangel/studies/<key>.json         a study's record: written last, atomically; it alone marks the study done
    .ctangel/staging/<key>.<token>/     a study's outputs while a worker writes them; moved into place, then removed
    .ctangel/commits.log                one line per study committed (key, worker, time): an audit of the run

A worker writes a study's outputs (overlays, montage, masks) into its own staging folder, moves each of
them into place with a rename, and only then writes the record. A worker killed at any point leaves at
most a staging folder and outputs without a record: the study is not done, and the next attempt replaces
them. A record that cannot be read, or that was made with other settings, models or output options,
does not count either.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ctangel.inference.postprocess import LesionBox
from ctangel.inference.results import SliceResult, StudyResult
from ctangel.log import logger
from ctangel.report.files import atomic_text

STATE_DIR: Final = ".ctangel"
RECORDS_DIR: Final = "studies"
STAGING_DIR: Final = "staging"
COMMITS_LOG: Final = "commits.log"
RECORD_SUFFIX: Final = ".json"
#: Bump when a record's content changes meaning: older records are then redone, not misread.
RECORD_FORMAT: Final = 1


@dataclass
class StudyRecord:
    """One study's outcome, as a worker wrote it.

    Args:
        key: the study's key (stable from run to run for the same input and series).
        name: the name its outputs go under (``studies/<name>/``).
        fingerprint: what the outcome depends on beyond the input (settings, models, output options).
        patient_id: the study's patient.
        study: ``StudyResult.to_dict()`` when the study was analysed, else None.
        error: ``{"input": path, "error": problem}`` when it failed, else None.
        notes: the report's lines for the study, keyed by its output folder.
        timings: wall seconds per pipeline stage spent on the study.
        pixel_area_mm2: the study's pixel area, when known.
        voxel_volume_ml: the study's voxel volume, when known.
        probabilities: each slice's lesion probability unrounded (the report shows them as a single-process
            run does; results.json rounds them).
        worker: the worker that made it.
    """

    key: str
    name: str
    fingerprint: str
    patient_id: str
    study: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    notes: dict[str, list[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    pixel_area_mm2: float | None = None
    voxel_volume_ml: float | None = None
    probabilities: list[float] = field(default_factory=list)
    worker: str = ""

    @property
    def done(self) -> bool:
        """Whether the study was analysed (a failure is recorded, but not done)."""
        return self.study is not None

    def to_dict(self) -> dict[str, Any]:
        """The record file's content."""
        return {
            "format": RECORD_FORMAT,
            "key": self.key,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "patient_id": self.patient_id,
            "study": self.study,
            "error": self.error,
            "notes": self.notes,
            "timings": self.timings,
            "pixel_area_mm2": self.pixel_area_mm2,
            "voxel_volume_ml": self.voxel_volume_ml,
            "probabilities": self.probabilities,
            "worker": self.worker,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> StudyRecord:
        """Read a record file's content.

        Raises:
            KeyError, TypeError, ValueError: the content is not a record of this format.
        """
        if doc["format"] != RECORD_FORMAT:
            raise ValueError(f"record format {doc['format']!r}, expected {RECORD_FORMAT}")
        return cls(
            key=str(doc["key"]),
            name=str(doc["name"]),
            fingerprint=str(doc["fingerprint"]),
            patient_id=str(doc["patient_id"]),
            study=doc["study"],
            error=doc["error"],
            notes={str(k): [str(line) for line in v] for k, v in doc["notes"].items()},
            timings={str(k): float(v) for k, v in doc["timings"].items()},
            pixel_area_mm2=_optional_float(doc["pixel_area_mm2"]),
            voxel_volume_ml=_optional_float(doc["voxel_volume_ml"]),
            probabilities=[float(v) for v in doc["probabilities"]],
            worker=str(doc["worker"]),
        )

    def study_result(self) -> RecordedStudy:
        """The study's result, rebuilt from ``study`` (values as results.json rounds them).

        Raises:
            ValueError: the record holds no study (it failed).
        """
        if self.study is None:
            raise ValueError(f"study {self.key} failed; it has no result")
        result = study_from_dict(self.patient_id, self.study, self.pixel_area_mm2, self.voxel_volume_ml)
        if len(self.probabilities) == len(result.slices):
            for s, p in zip(result.slices, self.probabilities, strict=True):
                s.lesion_probability = p
        return result


@dataclass
class RecordedStudy(StudyResult):
    """A study's result read back from a record: ``to_dict()`` gives the entry exactly as the worker wrote it
    (fields added to results.json later come through unchanged), the attributes serve the patient rule and
    the report.

    Args:
        recorded: the study's results.json entry as written.
    """

    recorded: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The study's entry in results.json, as the worker wrote it."""
        return dict(self.recorded)


def study_from_dict(
    patient_id: str, doc: dict[str, Any], pixel_area_mm2: float | None, voxel_volume_ml: float | None
) -> RecordedStudy:
    """A study's result from its results.json entry (``StudyResult.to_dict()``) and its pixel geometry."""
    return RecordedStudy(
        patient_id=patient_id,
        study_id=doc["study_id"],
        series_id=doc["series_id"],
        input=doc["input"],
        kind=doc["kind"],
        positive=bool(doc["positive"]),
        slices=[_slice_from_dict(s) for s in doc["slices"]],
        description=doc["description"],
        pixel_area_mm2=pixel_area_mm2,
        voxel_volume_ml=voxel_volume_ml,
        outputs=doc["outputs"],
        recorded=doc,
    )


def _slice_from_dict(doc: dict[str, Any]) -> SliceResult:
    box = doc["lung_box"]
    return SliceResult(
        index=int(doc["index"]),
        source=doc["source"],
        shape=(int(doc["rows"]), int(doc["cols"])),
        positive=bool(doc["positive"]),
        lesion_probability=float(doc["lesion_probability"]),
        lesion_area_px=int(doc["lesion_area_px"]),
        lung_area_px=int(doc["lung_area_px"]),
        lung_box=None if box is None else (box[0], box[1], box[2], box[3]),
        boxes=[LesionBox(tuple(b["box"]), int(b["area_px"]), float(b["score"])) for b in doc["boxes"]],
    )


class RunStore:
    """The records and staging folders of a cluster run under ``out_dir`` (a folder every worker sees).

    Args:
        out_dir: the run's output folder.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.state_dir = self.out_dir / STATE_DIR
        self.records_dir = self.state_dir / RECORDS_DIR
        self.staging_root = self.state_dir / STAGING_DIR

    @property
    def commits_log(self) -> Path:
        """``.ctangel/commits.log``: a line ``key<TAB>worker<TAB>unix time`` per study committed."""
        return self.state_dir / COMMITS_LOG

    def record_path(self, key: str) -> Path:
        """Where study ``key``'s record goes."""
        return self.records_dir / f"{key}{RECORD_SUFFIX}"

    def load(self, key: str) -> StudyRecord | None:
        """Study ``key``'s record, or None when there is none or it cannot be read (then it is redone)."""
        path = self.record_path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("%s: cannot be read (%s); the study is analysed again", path, exc)
            return None
        try:
            record = StudyRecord.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("%s: not a study record (%s); the study is analysed again", path, exc)
            return None
        return record if record.key == key else None

    def done(self, key: str, name: str, fingerprint: str) -> StudyRecord | None:
        """Study ``key``'s record when it is done with this name and fingerprint, else None."""
        record = self.load(key)
        if record is None or not record.done:
            return None
        if record.name != name or record.fingerprint != fingerprint:
            logger.info("%s: made with other settings, models or names; the study is analysed again", key)
            return None
        return record

    def new_staging(self, key: str) -> Path:
        """A fresh, empty staging folder for one attempt at study ``key``."""
        path = self.staging_root / f"{key}.{uuid.uuid4().hex}"
        path.mkdir(parents=True)
        return path

    def commit(self, staging: Path, record: StudyRecord) -> None:
        """Move what ``staging`` holds into the output folder, then write the record; remove ``staging``.

        Each folder ``staging/<area>/<item>`` (``studies/<name>``, ``masks/<name>.nii.gz``...) replaces
        ``out_dir/<area>/<item>`` with a rename; files directly in ``staging`` (the writer's partial
        results) are dropped. The record is written last: until it is, the study is not done.
        """
        for area in sorted(p for p in staging.iterdir() if p.is_dir()):
            target_area = self.out_dir / area.name
            target_area.mkdir(parents=True, exist_ok=True)
            for item in sorted(area.iterdir()):
                target = target_area / item.name
                _remove(target)  # an earlier attempt's, which never got its record
                os.replace(item, target)
        self.write_record(record)
        shutil.rmtree(staging, ignore_errors=True)
        if record.done:
            with self.commits_log.open("a", encoding="utf-8") as f:
                f.write(f"{record.key}\t{record.worker}\t{time.time():.3f}\n")

    def write_record(self, record: StudyRecord) -> None:
        """Write ``record`` atomically."""
        self.records_dir.mkdir(parents=True, exist_ok=True)
        with atomic_text(self.record_path(record.key)) as f:
            json.dump(record.to_dict(), f, ensure_ascii=False, default=str)
            f.write("\n")

    def clear_staging(self) -> None:
        """Remove every staging folder (what killed workers left); call it when no worker is writing."""
        shutil.rmtree(self.staging_root, ignore_errors=True)

    def committed_keys(self) -> list[str]:
        """The keys in ``commits.log``, one per commit, in order (empty when there is none)."""
        with contextlib.suppress(FileNotFoundError):
            lines = self.commits_log.read_text(encoding="utf-8").splitlines()
            return [line.split("\t", 1)[0] for line in lines if line]
        return []


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
