"""The JSON schema of a study's ``anatomy`` entry in results.json, and the shared schema extended with it.

The shared ``results.schema.json`` is the minimum every version holds and welcomes more keys; this adds the
contract of ``patients[].studies[].anatomy`` (null, or the object below) without changing anything it asks.
"""

from __future__ import annotations

import copy
from typing import Any, Final

_COUNT: Final = {"type": "integer", "minimum": 0}
_ML: Final = {"type": ["number", "null"], "minimum": 0}
_FIGURES: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["lung_px", "lesion_px", "lung_volume_ml", "lesion_volume_ml", "involvement_percent", "score"],
    "properties": {
        "lung_px": _COUNT,
        "lesion_px": _COUNT,
        "lung_volume_ml": _ML,
        "lesion_volume_ml": _ML,
        "involvement_percent": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
        "score": {"type": "integer", "minimum": 0, "maximum": 5},
    },
}

#: ``patients[].studies[].anatomy``.
ANATOMY_SCHEMA: Final[dict[str, Any]] = {
    "type": ["object", "null"],
    "required": [
        "regions_method",
        "regions_note",
        "lung_split",
        "severity_score",
        "severity_score_max",
        "lungs",
        "regions",
        "slices",
    ],
    "properties": {
        "regions_method": {
            "enum": ["lobes", "zones", "per-slice"],
            "description": "lobes: estimated from lung shape (no fissures); zones: thirds by height; "
            "per-slice: single images, right/left figures only",
        },
        "regions_note": {"type": "string"},
        "lung_split": {"type": "string"},
        "severity_score": {"type": ["integer", "null"], "minimum": 0, "maximum": 30},
        "severity_score_max": {"enum": [25, 30, None]},
        "lungs": {
            "type": "object",
            "required": ["right", "left"],
            "properties": {"right": _FIGURES, "left": _FIGURES},
        },
        "regions": {
            "type": "array",
            "items": {
                "allOf": [
                    _FIGURES,
                    {
                        "type": "object",
                        "required": ["key", "name", "side"],
                        "properties": {
                            "key": {
                                "enum": ["RUL", "RML", "RLL", "LUL", "LLL", "RUZ", "RMZ", "RLZ", "LUZ", "LMZ", "LLZ"]
                            },
                            "name": {"type": "string"},
                            "side": {"enum": ["right", "left"]},
                        },
                    },
                ]
            },
        },
        "slices": {
            "type": "object",
            "required": ["lesion_px_right", "lesion_px_left", "lesion_px_by_region"],
            "properties": {
                "lesion_px_right": {"type": "array", "items": _COUNT},
                "lesion_px_left": {"type": "array", "items": _COUNT},
                "lesion_px_by_region": {"type": "object", "additionalProperties": {"type": "array", "items": _COUNT}},
            },
        },
    },
}


def extended_results_schema(shared: dict[str, Any]) -> dict[str, Any]:
    """``shared`` (the results.json schema) with the ``anatomy`` entry of a study added to it."""
    schema = copy.deepcopy(shared)
    study = schema["properties"]["patients"]["items"]["properties"]["studies"]["items"]
    study.setdefault("properties", {})["anatomy"] = ANATOMY_SCHEMA
    return schema
