"""The truth to score a results.json against, matched to its slices: a folder of label images or a CSV.

* **A folder of label images** (CT-Angel's ``train_labels``: white lesion on black, cut at
  ``LABEL_THRESHOLD``), found by the stem of each slice's file, any image ending, in subfolders too
  (see :class:`~ctangel.report.labels.LabelIndex`). A slice is truly positive when its label holds any
  lesion pixel. Slices of volumes (``PATH#k``) have no file stem of their own and are never matched.
* **A CSV** with columns ``source,label[,patient]`` (header names in any case; ``label`` one of
  ``1/0``, ``true/false``, ``yes/no``, ``positive/negative``). A row's ``source`` is matched to a slice's
  ``source`` exactly, else after normalising both paths (``\\`` to ``/``, ``./`` and ``a/../`` removed),
  else by file name (``PATH#k`` keeps its ``#k``); a key that names several slices matches none, and a
  slice is matched by the first row that names it. ``patient``, when given and not empty, replaces the
  results' patient id in per-patient grouping.
"""

from __future__ import annotations

import csv
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from ctangel.constants import LABEL_THRESHOLD
from ctangel.errors import InputError
from ctangel.io.image import IMAGE_SUFFIXES, read_label
from ctangel.log import logger
from ctangel.metrics.results_file import ResultsFile, ResultSlice
from ctangel.report.labels import LabelIndex

TruthKind = Literal["labels", "csv"]
SOURCE_COLUMN: Final = "source"
LABEL_COLUMN: Final = "label"
PATIENT_COLUMN: Final = "patient"
#: Label cells read as positive and as negative (compared in lower case, stripped).
POSITIVE_LABELS: Final = frozenset({"1", "1.0", "true", "yes", "positive"})
NEGATIVE_LABELS: Final = frozenset({"0", "0.0", "false", "no", "negative"})
_WHAT: Final = (
    "give --truth a folder of label images (white = lesion, same file stems as the slices) "
    "or a CSV with columns source,label[,patient]"
)


@dataclass(frozen=True)
class UnmatchedRow:
    """A CSV row that labels no slice.

    Args:
        line: the row's line in the CSV (the header is line 1).
        source: its ``source`` cell.
        reason: why it matched nothing.
    """

    line: int
    source: str
    reason: str


@dataclass
class Truth:
    """The truth of the slices of one results.json.

    Args:
        kind: ``"labels"`` (a folder of label images) or ``"csv"``.
        path: the folder or CSV.
        labels: per matched slice (its position in :attr:`ResultsFile.slices`), whether it truly shows lesion.
        label_images: per matched slice, its label image (label folders only).
        patients: per matched slice, the CSV's patient, where the CSV gives one.
        has_patient_column: whether the CSV has a ``patient`` column.
        unmatched_rows: CSV rows that labelled no slice.
        notes: what the reader of the report should know about the matching.
    """

    kind: TruthKind
    path: Path
    labels: dict[int, bool] = field(default_factory=dict)
    label_images: dict[int, Path] = field(default_factory=dict)
    patients: dict[int, str] = field(default_factory=dict)
    has_patient_column: bool = False
    unmatched_rows: list[UnmatchedRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_truth(path: Path, results: ResultsFile) -> Truth:
    """The truth of ``results``' slices from a label folder or a CSV (chosen by whether ``path`` is a folder).

    Raises:
        InputError: ``path`` is missing, the folder holds no label image, the CSV lacks the needed columns
            or holds no row, a label cell is not 0/1, or nothing in the truth matches a slice.
    """
    path = Path(path)
    if path.is_dir():
        truth = read_label_folder(path, results)
    elif path.is_file():
        truth = read_csv_truth(path, results)
    else:
        raise InputError(path, f"no such file or folder; {_WHAT}")
    if not truth.labels:
        raise InputError(
            path,
            f"labels none of the {len(results.slices)} slices of {results.path}; "
            + (
                "label images must have the same file stems as the slices"
                if truth.kind == "labels"
                else "the CSV's source column must hold the slices' paths (or file names) as results.json gives them"
            ),
        )
    return truth


def read_label_folder(folder: Path, results: ResultsFile) -> Truth:
    """Label each slice by its label image under ``folder`` (see the module's notes).

    Raises:
        InputError: the folder holds no label image, or a matched label image cannot be read.
    """
    index = LabelIndex(folder)
    if len(index) == 0:
        raise InputError(
            folder,
            f"holds no label images ({', '.join(sorted(IMAGE_SUFFIXES))}); {_WHAT}",
        )
    truth = Truth(kind="labels", path=folder)
    n_volume = 0
    for i, s in enumerate(results.slices):
        if s.is_volume_slice:
            n_volume += 1
            continue
        label = index.find(s.source)
        if label is not None:
            truth.labels[i] = bool(read_label(label, LABEL_THRESHOLD).any())
            truth.label_images[i] = label
    if n_volume:
        truth.notes.append(
            f"{n_volume} slices of volumes (source PATH#k) cannot be matched to label images, which are "
            "found by file stem; to score them give --truth a CSV with columns source,label (source PATH#k)."
        )
    logger.info("%s: %d of %d slices labelled", folder, len(truth.labels), len(results.slices))
    return truth


def read_csv_truth(path: Path, results: ResultsFile) -> Truth:
    """Label slices from a CSV with columns ``source,label[,patient]`` (see the module's notes).

    Raises:
        InputError: the file is not a CSV with those columns, holds no row, or a label cell is not 0/1.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            table = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot be read as a CSV ({exc}); {_WHAT}") from exc
    if not table:
        raise InputError(path, f"the CSV is empty; {_WHAT}")
    header = [h.strip().lower() for h in table[0]]
    if SOURCE_COLUMN not in header or LABEL_COLUMN not in header:
        raise InputError(
            path,
            f"needs the columns source,label[,patient] in its first line, found {','.join(header) or 'none'}",
        )
    col_source, col_label = header.index(SOURCE_COLUMN), header.index(LABEL_COLUMN)
    col_patient = header.index(PATIENT_COLUMN) if PATIENT_COLUMN in header else None
    truth = Truth(kind="csv", path=path, has_patient_column=col_patient is not None)
    match = _Matcher(results.slices)
    first_row: dict[int, int] = {}
    n_rows = 0
    for line, row in enumerate(table[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        n_rows += 1
        cells = row + [""] * (len(header) - len(row))
        source = cells[col_source].strip()
        label = _label(cells[col_label], path, line)
        found, reason = match(source)
        if found is None:
            truth.unmatched_rows.append(UnmatchedRow(line, source, reason))
            continue
        if found in first_row:
            reason = f"its slice is already labelled by line {first_row[found]}"
            truth.unmatched_rows.append(UnmatchedRow(line, source, reason))
            continue
        first_row[found] = line
        truth.labels[found] = label
        patient = cells[col_patient].strip() if col_patient is not None else ""
        if patient:
            truth.patients[found] = patient
    if n_rows == 0:
        raise InputError(path, f"the CSV holds a header but no rows; {_WHAT}")
    logger.info(
        "%s: %d rows, %d slices labelled, %d rows unmatched",
        path,
        n_rows,
        len(truth.labels),
        len(truth.unmatched_rows),
    )
    return truth


def _label(cell: str, path: Path, line: int) -> bool:
    value = cell.strip().lower()
    if value in POSITIVE_LABELS:
        return True
    if value in NEGATIVE_LABELS:
        return False
    raise InputError(path, f"line {line}: label {cell!r} is not 1 or 0 (true/false, yes/no also do)")


def normalise_source(source: str) -> str:
    """A path in one spelling: ``/`` separators, ``.`` and ``a/..`` steps removed (``./a\\b`` -> ``a/b``)."""
    text = source.strip().replace("\\", "/")
    return posixpath.normpath(text) if text else text


def _file_name(source: str) -> str:
    return posixpath.basename(normalise_source(source))


class _Matcher:
    """Finds the slice a CSV row names: exactly, by normalised path, then by file name."""

    def __init__(self, slices: list[ResultSlice]) -> None:
        keys: tuple[tuple[str, Callable[[str], str]], ...] = (
            ("source", lambda s: s),
            ("normalised path", normalise_source),
            ("file name", _file_name),
        )
        self._levels: list[tuple[str, Callable[[str], str], dict[str, list[int]]]] = []
        for name, key in keys:
            table: dict[str, list[int]] = {}
            for i, s in enumerate(slices):
                table.setdefault(key(s.source), []).append(i)
            self._levels.append((name, key, table))

    def __call__(self, source: str) -> tuple[int | None, str]:
        """The slice's position and ``""``, or None and why nothing matched."""
        if not source:
            return None, "the source cell is empty"
        for name, key, table in self._levels:
            found = table.get(key(source), [])
            if len(found) == 1:
                return found[0], ""
            if len(found) > 1:
                return None, f"its {name} names {len(found)} slices; give the path as results.json has it"
        return None, "no slice of the results has this source, path or file name"
