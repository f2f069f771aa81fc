"""The HTML report: one self-contained file that opens from disk with no server and no network.

Styles are inline and every image is embedded as a ``data:`` URI (downscaled JPEG), each linking to its
full-size PNG beside the report by a relative path. The page is the jinja2 template
``templates/report.html.j2``, rendered with autoescape: every piece of text from the inputs is escaped.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import jinja2
import markupsafe
from PIL import Image

from ctangel.log import logger
from ctangel.report.charts import anatomy_section
from ctangel.report.files import atomic_text

if TYPE_CHECKING:
    from ctangel.inference.results import AnalysisResult, StudyResult

#: Longest side of an embedded overlay and of an embedded montage, pixels.
OVERLAY_EMBED_SIDE_PX: Final = 640
MONTAGE_EMBED_SIDE_PX: Final = 1024
EMBED_JPEG_QUALITY: Final = 82
#: Overlays embedded per study (those with the most lesion first); the others are linked.
MAX_EMBEDDED_OVERLAYS: Final = 12
#: A slice table longer than this starts folded.
OPEN_TABLE_MAX_ROWS: Final = 20
#: Characters of a model's sha256 shown.
SHA256_SHORT_CHARS: Final = 12
NOT_KNOWN: Final = "—"
#: The report's template, in ``ctangel/report/templates``.
TEMPLATE_NAME: Final = "report.html.j2"

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;
padding:0 16px 48px;color:#1d1d1f;background:#fafafa}
h1{margin:24px 0 4px}h2{margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{margin:20px 0 6px}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pos{color:#b00020;font-weight:700}.neg{color:#1b7f3b;font-weight:700}.muted{color:#666}
.study{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 16px;margin:12px 0}
.overlays{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}figcaption{font-size:12px;color:#444}
img{max-width:100%;height:auto;border:1px solid #ccc}code,.src{font-family:ui-monospace,monospace;
font-size:12px;word-break:break-all}summary{cursor:pointer}tr.positive td{background:#fff0f0}
.note{font-size:13px;color:#555}
"""


def write_html_report(path: Path, result: AnalysisResult, notes: Mapping[str, Sequence[str]] | None = None) -> None:
    """Write the report of ``result`` to ``path`` (atomically).

    Images are read from the files named in each study's ``outputs``, relative to ``path``'s folder, and
    embedded one at a time as the report is written.

    Args:
        path: the report file, ``report.html`` in the output folder.
        result: the run.
        notes: lines to show under a study, keyed by the study's ``outputs["folder"]``.
    """
    out_dir = path.parent
    context = {
        "result": result,
        "css": _CSS,
        "now": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "models": _models(result),
        "key_settings": _key_settings(result),
        "rule": _rule(result),
        "notes": notes or {},
        "embed": lambda rel, side: _data_uri(out_dir / rel, side),
        "positive_slices": lambda p: sum(s.n_positive_slices for s in p.studies),
        "total_slices": lambda p: sum(len(s.slices) for s in p.studies),
        "study_facts": _study_facts,
        "anatomy": _anatomy,
        "overlay_paths": lambda s: {int(o["index"]): str(o["path"]) for o in s.outputs.get("overlays", [])},
        "overlay_choice": _overlay_choice,
        "mask_folder": _parent,
        "montage_side": MONTAGE_EMBED_SIDE_PX,
        "overlay_side": OVERLAY_EMBED_SIDE_PX,
        "open_table_max_rows": OPEN_TABLE_MAX_ROWS,
    }
    with atomic_text(path) as f:
        for part in _template().generate(context):
            f.write(part)


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ctangel.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template(TEMPLATE_NAME)


def _models(result: AnalysisResult) -> list[dict[str, str]]:
    rows = []
    for task, model in result.models.items():
        m = model if isinstance(model, Mapping) else {}
        rows.append(
            {
                "task": str(task),
                "name": str(m.get("name", NOT_KNOWN)),
                "sha256": str(m.get("sha256") or "")[:SHA256_SHORT_CHARS] or NOT_KNOWN,
                "backend": str(m.get("backend", NOT_KNOWN)),
            }
        )
    return rows


def _key_settings(result: AnalysisResult) -> list[tuple[str, str]]:
    s = result.settings
    return [
        ("HU window", f"W{_num(s.get('window_width'))} / L{_num(s.get('window_level'))} (DICOM and NIfTI input)"),
        ("lesion probability threshold", _num(s.get("lesion_threshold"))),
        ("minimum lesion area", f"over {_num(s.get('min_lesion_area_px_at_512'))} px at 512x512"),
        ("patient rule", _rule(result)),
    ]


def _rule(result: AnalysisResult) -> str:
    if result.patients:
        return result.patients[0].rule
    s = result.settings
    return (
        f">= {_num(s.get('patient_min_positive_slices'))} positive slices and "
        f">= {_num(s.get('patient_min_lesion_area_px_at_512'))} lesion px at 512x512 on them"
    )


def _anatomy(s: StudyResult) -> markupsafe.Markup:
    """The study's lung, lobe/zone and severity figures with their charts (SVG; text escaped where made)."""
    doc = {"anatomy": s.anatomy, "slices": [{"lesion_area_px": x.lesion_area_px} for x in s.slices]}
    return markupsafe.Markup(anatomy_section(doc))


def _study_facts(s: StudyResult) -> list[tuple[str, str]]:
    """The study's measures, as text (the template escapes it)."""
    area_mm2 = None if s.pixel_area_mm2 is None else s.lesion_area_px * s.pixel_area_mm2
    volume_ml = None if s.voxel_volume_ml is None else s.lesion_area_px * s.voxel_volume_ml
    involvement = s.lung_involvement_percent
    top = max((x.lesion_probability for x in s.slices), default=0.0)
    return [
        ("positive slices", f"{s.n_positive_slices} / {len(s.slices)}"),
        ("highest lesion probability", f"{top:.3f}"),
        ("lesion area", f"{s.lesion_area_px} px" + ("" if area_mm2 is None else f" ({area_mm2:.1f} mm²)")),
        ("lung involvement", NOT_KNOWN if involvement is None else f"{involvement:.2f} %"),
        ("lesion volume", NOT_KNOWN if volume_ml is None else f"{volume_ml:.2f} ml"),
    ]


def _overlay_choice(s: StudyResult, overlays: Mapping[int, str]) -> tuple[list[tuple[int, str]], list[int]]:
    """The overlays embedded (most lesion first, at most :data:`MAX_EMBEDDED_OVERLAYS`, shown in slice order)
    with their captions, and the slice indices of the others (linked)."""
    by_index = {x.index: x for x in s.slices}

    def weight(i: int) -> tuple[float, ...]:
        x = by_index.get(i)
        return (0.0, 0.0) if x is None else (float(x.lesion_area_px), x.lesion_probability)

    shown = sorted(sorted(overlays, key=weight, reverse=True)[:MAX_EMBEDDED_OVERLAYS])
    captions = []
    for i in shown:
        x = by_index.get(i)
        caption = f"slice {i}" if x is None else f"slice {i} · p = {x.lesion_probability:.3f} · {x.lesion_area_px} px"
        captions.append((i, caption))
    return captions, [i for i in sorted(overlays) if i not in shown]


def _data_uri(path: Path, max_side: int) -> str | None:
    """The image at ``path``, shrunk to fit ``max_side``, as a JPEG ``data:`` URI (None when unreadable)."""
    try:
        with Image.open(path) as im:
            im.load()
            small = im if im.mode == "RGB" else im.convert("RGB")  # one copy of a large montage, not two
    except OSError as exc:
        logger.warning("%s: cannot embed this image in the report (%s)", path, exc)
        return None
    small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=EMBED_JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _parent(entries: Sequence[Mapping[str, Any]]) -> str:
    return str(entries[0]["path"]).rsplit("/", 1)[0] if entries else ""


def _num(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else NOT_KNOWN if value is None else str(value)
