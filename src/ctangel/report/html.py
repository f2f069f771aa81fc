"""The HTML report: one self-contained file that opens from disk with no server and no network.

Styles are inline and every image is embedded as a ``data:`` URI (downscaled JPEG), each linking to its
full-size PNG beside the report by a relative path. Every piece of text from the inputs is escaped.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Iterator, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from PIL import Image

from ctangel.log import logger
from ctangel.report.charts import anatomy_section
from ctangel.report.files import atomic_text

if TYPE_CHECKING:
    from ctangel.inference.results import AnalysisResult, PatientResult, SliceResult, StudyResult

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

    Images are read from the files named in each study's ``outputs``, relative to ``path``'s folder.

    Args:
        path: the report file, ``report.html`` in the output folder.
        result: the run.
        notes: lines to show under a study, keyed by the study's ``outputs["folder"]``.
    """
    out_dir = path.parent
    with atomic_text(path) as f:
        f.write(_head())
        f.write(_header(result))
        f.write(_summary(result))
        for k, patient in enumerate(result.patients):
            for part in _patient(k, patient, out_dir, notes or {}):
                f.write(part)
        f.write(_errors(result))
        f.write("</body>\n</html>\n")


def _head() -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>ctangel report</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
    )


def _header(result: AnalysisResult) -> str:
    s = result.settings
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    for task, model in result.models.items():
        m = model if isinstance(model, Mapping) else {}
        sha = str(m.get("sha256") or "")[:SHA256_SHORT_CHARS] or NOT_KNOWN
        rows.append(
            f"<tr><td>{_e(task)}</td><td>{_e(m.get('name', NOT_KNOWN))}</td><td><code>{_e(sha)}</code></td>"
            f"<td>{_e(m.get('backend', NOT_KNOWN))}</td></tr>"
        )
    key = [
        (
            "HU window",
            f"W{_num(s.get('window_width'))} / L{_num(s.get('window_level'))} (DICOM and NIfTI input)",
        ),
        ("lesion probability threshold", _num(s.get("lesion_threshold"))),
        ("minimum lesion area", f"over {_num(s.get('min_lesion_area_px_at_512'))} px at 512x512"),
        ("patient rule", _rule(result)),
    ]
    all_settings = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in s.items())
    return (
        "<header>\n<h1>ctangel report</h1>\n"
        f'<p class="muted">ctangel {_e(result.version)} · written {_e(now)} · a research tool, not a medical '
        "device: every call needs a radiologist's review.</p>\n</header>\n"
        '<section id="settings">\n<h2>Models and settings</h2>\n'
        "<table><tr><th>task</th><th>model</th><th>sha256</th><th>backend</th></tr>"
        f"{''.join(rows)}</table>\n"
        f"<table>{''.join(f'<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>' for k, v in key)}</table>\n"
        f"<details><summary>all settings</summary><table>{all_settings}</table></details>\n</section>\n"
    )


def _rule(result: AnalysisResult) -> str:
    if result.patients:
        return result.patients[0].rule
    s = result.settings
    return (
        f">= {_num(s.get('patient_min_positive_slices'))} positive slices and "
        f">= {_num(s.get('patient_min_lesion_area_px_at_512'))} lesion px at 512x512 on them"
    )


def _summary(result: AnalysisResult) -> str:
    rows = []
    for k, p in enumerate(result.patients):
        total = sum(len(s.slices) for s in p.studies)
        positive = sum(s.n_positive_slices for s in p.studies)
        rows.append(
            f'<tr><td><a href="#p{k}">{_e(p.patient_id)}</a></td><td>{_verdict(p.positive)}</td>'
            f'<td class="num">{len(p.studies)}</td><td class="num">{positive} / {total}</td></tr>'
        )
    body = (
        f"<table><tr><th>patient</th><th>call</th><th>studies</th><th>positive slices</th></tr>{''.join(rows)}</table>"
        if rows
        else '<p class="muted">No study was analysed.</p>'
    )
    failed = f'<p class="pos">{len(result.errors)} input(s) failed: see <a href="#errors">below</a>.</p>'
    return (
        f'<section id="summary">\n<h2>Patients</h2>\n{body}\n'
        f'<p class="note">Patient rule: {_e(_rule(result))}.</p>\n'
        f"{failed if result.errors else ''}</section>\n"
    )


def _patient(k: int, p: PatientResult, out_dir: Path, notes: Mapping[str, Sequence[str]]) -> Iterator[str]:
    yield (
        f'<section class="patient" id="p{k}">\n<h2>Patient {_e(p.patient_id)}: {_verdict(p.positive)}</h2>\n'
        f'<p class="note">Rule: {_e(p.rule)}.</p>\n'
    )
    for j, study in enumerate(p.studies):
        yield _study(f"p{k}s{j}", study, out_dir, notes)
    yield "</section>\n"


def _study(anchor: str, s: StudyResult, out_dir: Path, notes: Mapping[str, Sequence[str]]) -> str:
    outputs = s.outputs
    overlays = {int(o["index"]): str(o["path"]) for o in outputs.get("overlays", [])}
    area_mm2 = None if s.pixel_area_mm2 is None else s.lesion_area_px * s.pixel_area_mm2
    volume_ml = None if s.voxel_volume_ml is None else s.lesion_area_px * s.voxel_volume_ml
    involvement = s.lung_involvement_percent
    top = max((x.lesion_probability for x in s.slices), default=0.0)
    facts = [
        ("call", _verdict(s.positive)),
        ("positive slices", f"{s.n_positive_slices} / {len(s.slices)}"),
        ("highest lesion probability", f"{top:.3f}"),
        ("lesion area", f"{s.lesion_area_px} px" + ("" if area_mm2 is None else f" ({area_mm2:.1f} mm²)")),
        ("lung involvement", NOT_KNOWN if involvement is None else f"{involvement:.2f} %"),
        ("lesion volume", NOT_KNOWN if volume_ml is None else f"{volume_ml:.2f} ml"),
        ("input", f'<span class="src">{_e(s.input)}</span>'),
        ("kind", _e(s.kind)),
    ]
    if s.description:
        facts.append(("description", _e(s.description)))
    if "mask" in outputs:
        facts.append(("lesion mask", _link(str(outputs["mask"]))))
    elif outputs.get("masks"):
        facts.append(("lesion masks", f"{len(outputs['masks'])} PNG files under {_link(_parent(outputs['masks']))}"))
    parts = [
        f'<article class="study" id="{anchor}">\n<h3>Study {_e(s.study_id)}</h3>\n'
        f'<p class="muted">series {_e(s.series_id)}</p>\n<table>'
        + "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in facts)
        + "</table>\n"
    ]
    for line in notes.get(str(outputs.get("folder", "")), []):
        parts.append(f'<p class="note">{_e(line)}</p>\n')
    parts.append(
        anatomy_section({"anatomy": s.anatomy, "slices": [{"lesion_area_px": x.lesion_area_px} for x in s.slices]})
    )
    if "montage" in outputs:
        parts.append("<h4>All slices</h4>\n" + _figure(out_dir, str(outputs["montage"]), MONTAGE_EMBED_SIDE_PX, ""))
    parts.append(_overlays(s, overlays, out_dir))
    parts.append(_slice_table(s.slices, overlays))
    parts.append("</article>\n")
    return "".join(parts)


def _overlays(s: StudyResult, overlays: Mapping[int, str], out_dir: Path) -> str:
    if not overlays:
        return ""
    by_index = {x.index: x for x in s.slices}

    def weight(i: int) -> tuple[float, ...]:
        x = by_index.get(i)
        return (0.0, 0.0) if x is None else (float(x.lesion_area_px), x.lesion_probability)

    shown = sorted(sorted(overlays, key=weight, reverse=True)[:MAX_EMBEDDED_OVERLAYS])
    figures = []
    for i in shown:
        x = by_index.get(i)
        caption = f"slice {i}" if x is None else f"slice {i} · p = {x.lesion_probability:.3f} · {x.lesion_area_px} px"
        figures.append(_figure(out_dir, overlays[i], OVERLAY_EMBED_SIDE_PX, caption))
    rest = [i for i in sorted(overlays) if i not in shown]
    more = ""
    if rest:
        links = ", ".join(_link(overlays[i], str(i)) for i in rest)
        more = f'<p class="note">{len(rest)} more overlays (slice index): {links}</p>\n'
    title = "Overlays: model boxes red, label boxes green"
    return f'<h4>{title}</h4>\n<div class="overlays">{"".join(figures)}</div>\n{more}'


def _slice_table(slices: Sequence[SliceResult], overlays: Mapping[int, str]) -> str:
    rows = []
    for x in slices:
        link = _link(overlays[x.index], "overlay") if x.index in overlays else ""
        rows.append(
            f'<tr class="{"positive" if x.positive else ""}"><td class="num">{x.index}</td>'
            f'<td class="src">{_e(x.source)}</td><td>{"yes" if x.positive else "no"}</td>'
            f'<td class="num">{x.lesion_probability:.3f}</td><td class="num">{x.lesion_area_px}</td>'
            f'<td class="num">{len(x.boxes)}</td><td>{link}</td></tr>'
        )
    is_open = " open" if len(slices) <= OPEN_TABLE_MAX_ROWS else ""
    return (
        f"<details{is_open}><summary>Slices ({len(slices)})</summary>\n"
        "<table><tr><th>index</th><th>source</th>"
        "<th>positive</th><th>probability</th><th>lesion px</th><th>boxes</th><th></th></tr>"
        f"{''.join(rows)}</table></details>\n"
    )


def _errors(result: AnalysisResult) -> str:
    if not result.errors:
        return '<section id="errors">\n<h2>Failed inputs</h2>\n<p class="muted">None.</p>\n</section>\n'
    items = "".join(
        f'<li><span class="src">{_e(err.get("input", ""))}</span>: {_e(err.get("error", ""))}</li>'
        for err in result.errors
    )
    title = f"Failed inputs ({len(result.errors)})"
    return f'<section id="errors">\n<h2>{title}</h2>\n<ul>{items}</ul>\n</section>\n'


def _figure(out_dir: Path, rel: str, max_side: int, caption: str) -> str:
    uri = _data_uri(out_dir / rel, max_side)
    inner = (
        f'<img src="{uri}" alt="{_e(caption or rel)}">' if uri else f'<span class="muted">{_e(rel)} (missing)</span>'
    )
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure><a href="{_href(rel)}">{inner}</a>{cap}</figure>\n'


def _data_uri(path: Path, max_side: int) -> str | None:
    """The image at ``path``, shrunk to fit ``max_side``, as a JPEG ``data:`` URI (None when unreadable)."""
    try:
        with Image.open(path) as im:
            small = im.convert("RGB")
    except OSError as exc:
        logger.warning("%s: cannot embed this image in the report (%s)", path, exc)
        return None
    small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=EMBED_JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _parent(entries: Sequence[Mapping[str, Any]]) -> str:
    return str(entries[0]["path"]).rsplit("/", 1)[0] if entries else ""


def _link(rel: str, text: str | None = None) -> str:
    return f'<a href="{_href(rel)}">{_e(text if text is not None else rel)}</a>'


def _href(rel: str) -> str:
    return escape(quote(rel), quote=True)


def _verdict(positive: bool) -> str:
    return '<span class="pos">POSITIVE</span>' if positive else '<span class="neg">negative</span>'


def _num(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else NOT_KNOWN if value is None else str(value)


def _e(value: object) -> str:
    return escape(str(value), quote=True)
