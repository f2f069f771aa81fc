"""Pictures where people look rather than read: inline SVG charts of a study's lesion along its slices and
of each lobe's (or zone's) involvement with its score, and the HTML block that holds them with their table.

Everything here reads a study's results.json entry (``StudyResult.to_dict()``), so the report and the
service's viewer draw the same charts from the same figures. No plotting library: a few SVG elements.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, Final

CHART_WIDTH_PX: Final = 640
CHART_HEIGHT_PX: Final = 180
#: Space for the axis labels, pixels.
CHART_MARGIN_PX: Final = 36
BAR_HEIGHT_PX: Final = 22
#: Colours of the right and the left lung (colour-blind safe pair), and of the whole study.
RIGHT_COLOUR: Final = "#0072b2"
LEFT_COLOUR: Final = "#e69f00"
TOTAL_COLOUR: Final = "#444444"
SVG_NS: Final = "http://www.w3.org/2000/svg"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _svg_open(width: int, height: int, label: str, standalone: bool) -> str:
    """The ``<svg>`` tag; a file needs the SVG namespace, an SVG inside HTML does not (and the report holds
    no URL at all)."""
    ns = f' xmlns="{SVG_NS}"' if standalone else ""
    return (
        f'<svg{ns} class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_e(label)}">'
    )


def lesion_profile_svg(study: Mapping[str, Any], standalone: bool = True) -> str:
    """Lesion area per slice, head (left) to feet (right), per lung when the anatomy is known.

    Args:
        study: a study's entry of results.json.
        standalone: for an ``.svg`` file (with the SVG namespace) rather than inside HTML.

    Returns:
        An ``<svg>`` element; the y axis is in pixels, or mm² when the pixel area is known (it is not in
        results.json, so pixels always: the same unit as ``lesion_area_px``).
    """
    slices = study.get("slices", [])
    anatomy = study.get("anatomy") or {}
    lines: list[tuple[str, str, Sequence[int]]]
    per_side = anatomy.get("slices", {})
    if per_side.get("lesion_px_right") is not None and per_side.get("lesion_px_left") is not None:
        lines = [
            ("right lung", RIGHT_COLOUR, per_side["lesion_px_right"]),
            ("left lung", LEFT_COLOUR, per_side["lesion_px_left"]),
        ]
    else:
        lines = [("lesion", TOTAL_COLOUR, [int(s.get("lesion_area_px", 0)) for s in slices])]
    n = max((len(v) for _, _, v in lines), default=0)
    top = max((max(v, default=0) for _, _, v in lines), default=0)
    w, h, m = CHART_WIDTH_PX, CHART_HEIGHT_PX, CHART_MARGIN_PX
    parts = [
        _svg_open(w, h, "lesion area along the slices", standalone),
        f"<title>Lesion area per slice, head to feet (max {top} px)</title>",
        f'<line x1="{m}" y1="{h - m}" x2="{w - 4}" y2="{h - m}" stroke="#999"/>',
        f'<line x1="{m}" y1="8" x2="{m}" y2="{h - m}" stroke="#999"/>',
        f'<text x="{m}" y="{h - m + 14}" font-size="11">head (slice 0)</text>',
        f'<text x="{w - 4}" y="{h - m + 14}" font-size="11" text-anchor="end">feet (slice {max(n - 1, 0)})</text>',
        f'<text x="{m - 4}" y="14" font-size="11" text-anchor="end">{top}</text>',
        f'<text x="{m - 4}" y="{h - m}" font-size="11" text-anchor="end">0</text>',
        f'<text x="6" y="{h - 6}" font-size="11">lesion px per slice</text>',
    ]
    span_x, span_y = w - 4 - m, h - m - 10
    for k, (label, colour, values) in enumerate(lines):
        if n:
            points = " ".join(
                f"{m + span_x * (i + 0.5) / n:.1f},{h - m - span_y * (v / top if top else 0):.1f}"
                for i, v in enumerate(values)
            )
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>')
        parts.append(
            f'<text x="{w - 8}" y="{16 + 14 * k}" font-size="11" text-anchor="end" fill="{colour}">{_e(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def regions_svg(anatomy: Mapping[str, Any], standalone: bool = True) -> str:
    """One bar per lobe (or zone): % involved, 0 to 100, with its 0-5 score; empty without regions.

    Args:
        anatomy: a study's ``anatomy`` entry of results.json.
        standalone: for an ``.svg`` file (with the SVG namespace) rather than inside HTML.
    """
    regions = anatomy.get("regions") or []
    if not regions:
        return ""
    w, m = CHART_WIDTH_PX, 150
    h = BAR_HEIGHT_PX * len(regions) + 30
    span = w - m - 90
    parts = [
        _svg_open(w, h, f"involvement per {anatomy.get('regions_method', 'region')}", standalone),
        f"<title>% of each {_e(_unit(anatomy))} involved, with its score (0-5)</title>",
    ]
    for k, r in enumerate(regions):
        y = 4 + k * BAR_HEIGHT_PX
        pct = float(r.get("involvement_percent") or 0.0)
        colour = RIGHT_COLOUR if r.get("side") == "right" else LEFT_COLOUR
        parts += [
            f'<text x="{m - 6}" y="{y + 15}" font-size="12" text-anchor="end">{_e(r.get("name", r.get("key")))}</text>',
            f'<rect x="{m}" y="{y + 3}" width="{span}" height="{BAR_HEIGHT_PX - 6}" fill="#eee"/>',
            f'<rect x="{m}" y="{y + 3}" width="{span * min(pct, 100.0) / 100.0:.1f}" '
            f'height="{BAR_HEIGHT_PX - 6}" fill="{colour}"/>',
            f'<text x="{m + span + 6}" y="{y + 15}" font-size="12">{pct:.1f} % · score {int(r.get("score", 0))}</text>',
        ]
    y = 4 + len(regions) * BAR_HEIGHT_PX + 14
    parts += [
        f'<text x="{m}" y="{y}" font-size="11">0 %</text>',
        f'<text x="{m + span}" y="{y}" font-size="11" text-anchor="end">100 %</text>',
        "</svg>",
    ]
    return "".join(parts)


def _unit(anatomy: Mapping[str, Any]) -> str:
    return "zone" if anatomy.get("regions_method") == "zones" else "lobe"


def _ml(value: object) -> str:
    return "–" if value is None else f"{float(value):.1f} ml"  # type: ignore[arg-type]


def _pct(value: object) -> str:
    return "–" if value is None else f"{float(value):.2f} %"  # type: ignore[arg-type]


def anatomy_section(study: Mapping[str, Any]) -> str:
    """The report's block for one study: severity score, the per-lung and per-region table, both charts.

    Args:
        study: the study's entry of results.json.

    Returns:
        HTML (already escaped), empty when the study has no anatomy.
    """
    anatomy = study.get("anatomy")
    if not anatomy:
        return ""
    method = str(anatomy.get("regions_method", ""))
    rows = [
        ("right lung", anatomy["lungs"]["right"]),
        ("left lung", anatomy["lungs"]["left"]),
        *[(str(r["name"]), r) for r in anatomy.get("regions", [])],
    ]
    table = "".join(
        f"<tr><th>{_e(name)}</th><td>{_ml(f.get('lung_volume_ml'))}</td><td>{_ml(f.get('lesion_volume_ml'))}</td>"
        f"<td>{_pct(f.get('involvement_percent'))}</td><td>{int(f.get('score', 0))}</td></tr>"
        for name, f in rows
    )
    score = anatomy.get("severity_score")
    title = {"lobes": "Lungs and lobes (estimated)", "zones": "Lungs and zones"}.get(method, "Right and left lung")
    head = (
        f'<h4>{_e(title)}</h4>\n<p class="muted">{_e(anatomy.get("regions_note", ""))}; '
        f"lungs told apart by: {_e(anatomy.get('lung_split', ''))}</p>\n"
    )
    if score is not None:
        head += (
            f'<p class="score">CT severity score: <strong>{int(score)} / {int(anatomy["severity_score_max"])}</strong>'
            f" ({_e(method)})</p>\n"
        )
    return (
        '<section class="anatomy">\n'
        + head
        + "<table><tr><th></th><th>lung</th><th>lesion</th><th>involved</th><th>score</th></tr>"
        + table
        + "</table>\n<h4>Lesion along the slices</h4>\n"
        + lesion_profile_svg(study, standalone=False)
        + (
            "\n<h4>Involvement per " + _e(_unit(anatomy)) + "</h4>\n" + regions_svg(anatomy, standalone=False)
            if score is not None
            else ""
        )
        + "\n</section>\n"
    )
