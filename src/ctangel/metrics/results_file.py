"""A results.json written by ``ctangel analyze``, read back as the calls that evaluation scores."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ctangel.errors import InputError

#: The file ``ctangel analyze`` writes into its output folder.
RESULTS_NAME: Final = "results.json"
#: ``PATH#k``: slice ``k`` of a volume file.
VOLUME_SLICE: Final = re.compile(r"#\d+$")
#: What to do when a file is not a results.json.
_REDO: Final = "give the results.json that `ctangel analyze INPUT --out DIR` wrote (DIR/results.json)"
_SLICE_KEYS: Final = ("index", "source", "positive", "lesion_probability", "lesion_area_px")


@dataclass(frozen=True)
class ResultSlice:
    """One slice's calls, as results.json holds them.

    Args:
        patient_id: the patient in results.json.
        study_id: the slice's study.
        index: the slice's position in its study.
        source: the file path as given to ``ctangel analyze``, or ``PATH#k`` for a volume's slice.
        positive: the image call.
        lesion_probability: the highest lesion probability in the valid region, 0..1.
        lesion_area_px: pixels of kept lesion.
        shape: ``(rows, cols)`` when results.json gives it.
        mask: the predicted lesion mask PNG (``--masks``, image inputs), or None.
    """

    patient_id: str
    study_id: str
    index: int
    source: str
    positive: bool
    lesion_probability: float
    lesion_area_px: int
    shape: tuple[int, int] | None = None
    mask: Path | None = None

    @property
    def is_volume_slice(self) -> bool:
        """Whether the slice is slice ``k`` of a volume file (source ``PATH#k``)."""
        return VOLUME_SLICE.search(self.source) is not None


@dataclass(frozen=True)
class ResultPatient:
    """One patient's call and slices.

    Args:
        patient_id: the patient.
        positive: the patient call.
        slices: positions of the patient's slices in :attr:`ResultsFile.slices`.
    """

    patient_id: str
    positive: bool
    slices: tuple[int, ...]


@dataclass(frozen=True)
class ResultsFile:
    """A results.json, read.

    Args:
        path: the file.
        version: the ctangel version that wrote it.
        settings: the analysis settings it records.
        slices: every slice, patient by patient, study by study.
        patients: every patient, in the file's order.
        n_image_studies: studies read from image files.
        n_image_studies_with_masks: of those, studies whose lesion masks were written (``--masks``).
        n_volume_studies: studies read from volumes (DICOM series, NIfTI).
    """

    path: Path
    version: str
    settings: dict[str, Any]
    slices: list[ResultSlice]
    patients: list[ResultPatient]
    n_image_studies: int = 0
    n_image_studies_with_masks: int = 0
    n_volume_studies: int = 0


def read_results(path: Path) -> ResultsFile:
    """Read the results.json of ``ctangel analyze`` (or the folder holding one).

    Mask paths are resolved against the file's folder.

    Raises:
        InputError: the file is missing, is not JSON, or is not a results.json of ctangel (a key is
            missing or of the wrong type).
    """
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(path, f"no such file; {_REDO}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot be read ({exc}); {_REDO}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not JSON ({exc}); {_REDO}") from exc
    if not isinstance(doc, dict) or "ctangel_version" not in doc or not isinstance(doc.get("patients"), list):
        raise InputError(path, f"not a results.json of ctangel (no ctangel_version or patients); {_REDO}")
    folder = path.parent
    slices: list[ResultSlice] = []
    patients: list[ResultPatient] = []
    counts = {"image": 0, "masks": 0, "volume": 0}
    try:
        for p in doc["patients"]:
            pid = str(p["patient_id"])
            first = len(slices)
            for study in p["studies"]:
                slices.extend(_study_slices(pid, study, folder, counts))
            patients.append(ResultPatient(pid, _bool(p["positive"]), tuple(range(first, len(slices)))))
    except (KeyError, TypeError, ValueError) as exc:
        where = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        raise InputError(path, f"not a results.json of ctangel ({where}); {_REDO}") from exc
    settings = doc.get("settings")
    return ResultsFile(
        path=path,
        version=str(doc["ctangel_version"]),
        settings=settings if isinstance(settings, dict) else {},
        slices=slices,
        patients=patients,
        n_image_studies=counts["image"],
        n_image_studies_with_masks=counts["masks"],
        n_volume_studies=counts["volume"],
    )


def _study_slices(pid: str, study: dict[str, Any], folder: Path, counts: dict[str, int]) -> list[ResultSlice]:
    outputs = study.get("outputs") or {}
    masks = {int(m["index"]): folder / str(m["path"]) for m in outputs.get("masks") or []}
    found = []
    for s in study["slices"]:
        missing = [k for k in _SLICE_KEYS if k not in s]
        if missing:
            raise ValueError(f"a slice of study {study.get('study_id')!r} has no {', '.join(missing)}")
        rows, cols = s.get("rows"), s.get("cols")
        index = int(s["index"])
        found.append(
            ResultSlice(
                patient_id=pid,
                study_id=str(study["study_id"]),
                index=index,
                source=str(s["source"]),
                positive=_bool(s["positive"]),
                lesion_probability=float(s["lesion_probability"]),
                lesion_area_px=int(s["lesion_area_px"]),
                shape=None if rows is None or cols is None else (int(rows), int(cols)),
                mask=masks.get(index),
            )
        )
    if any(s.is_volume_slice for s in found):
        counts["volume"] += 1
    elif found:
        counts["image"] += 1
        counts["masks"] += int("masks" in outputs)
    return found


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"'positive' must be true or false, got {value!r}")
    return value
