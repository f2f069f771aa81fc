"""``summary.csv``: one row per patient and study, for a spreadsheet or pandas.

Columns: the patient's and the study's call, slices, volumes, % involved, the severity score, and per lung
and per lobe (or zone: the run's ``regions_method``) lesion ml, % involved and score. Empty cells are
figures not known (no voxel spacing, no lung found, single images).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ctangel.anatomy.regions import RegionMethod, regions_of
from ctangel.report.files import atomic_text

if TYPE_CHECKING:
    from ctangel.inference.results import AnalysisResult

SUMMARY_NAME: Final = "summary.csv"
BASE_COLUMNS: Final = (
    "patient_id",
    "patient_positive",
    "study_id",
    "series_id",
    "input",
    "study_positive",
    "n_slices",
    "n_positive_slices",
    "lesion_volume_ml",
    "lung_volume_ml",
    "lung_involvement_percent",
    "regions_method",
    "severity_score",
    "severity_score_max",
)
#: Per lung and per region: these figures, as ``<key>_<figure>`` columns.
REGION_FIGURES: Final = (("lesion_ml", "lesion_volume_ml"), ("percent", "involvement_percent"), ("score", "score"))


def summary_columns(method: RegionMethod) -> list[str]:
    """The header of summary.csv for a run cutting lungs by ``method``."""
    keys = ["right_lung", "left_lung", *(r.key for r in regions_of(method))]
    return [*BASE_COLUMNS, *(f"{k}_{suffix}" for k in keys for suffix, _ in REGION_FIGURES)]


def summary_rows(result: AnalysisResult, method: RegionMethod) -> list[dict[str, Any]]:
    """One dict per patient and study, keyed by :func:`summary_columns`."""
    rows = []
    for patient in result.patients:
        for study in patient.studies:
            doc = study.to_dict()
            row: dict[str, Any] = {
                "patient_id": patient.patient_id,
                "patient_positive": int(patient.positive),
                "study_id": study.study_id,
                "series_id": study.series_id,
                "input": study.input,
                "study_positive": int(study.positive),
                "n_slices": doc["n_slices"],
                "n_positive_slices": doc["n_positive_slices"],
                "lesion_volume_ml": doc["lesion_volume_ml"],
                "lung_volume_ml": doc["lung_volume_ml"],
                "lung_involvement_percent": doc["lung_involvement_percent"],
            }
            anatomy: Mapping[str, Any] = study.anatomy or {}
            if anatomy:
                row["regions_method"] = anatomy.get("regions_method")
                row["severity_score"] = anatomy.get("severity_score")
                row["severity_score_max"] = anatomy.get("severity_score_max")
                figures = {f"{side}_lung": f for side, f in anatomy.get("lungs", {}).items()}
                figures.update({r["key"]: r for r in anatomy.get("regions", [])})
                for key, f in figures.items():
                    for suffix, name in REGION_FIGURES:
                        row[f"{key}_{suffix}"] = f.get(name)
            rows.append(row)
    return rows


def write_summary_csv(path: Path, result: AnalysisResult, method: RegionMethod) -> None:
    """Write summary.csv (atomically); ``None`` figures are empty cells."""
    columns = summary_columns(method)
    with atomic_text(path) as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in summary_rows(result, method):
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
