"""The report's and the viewer's charts: SVG drawn from a study's results.json entry."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ctangel.report.charts import CHART_WIDTH_PX, anatomy_section, lesion_profile_svg, regions_svg

ANATOMY = {
    "regions_method": "zones",
    "regions_note": "zones <thirds>",
    "lung_split": "components",
    "severity_score": 7,
    "severity_score_max": 30,
    "lungs": {
        side: {"lung_px": 10, "lesion_px": 1, "lung_volume_ml": 1.0, "lesion_volume_ml": 0.1, "score": 2}
        | {"involvement_percent": 10.0}
        for side in ("right", "left")
    },
    "regions": [
        {"key": "RUZ", "name": "right upper zone", "side": "right", "involvement_percent": 50.0, "score": 3},
        {"key": "LLZ", "name": "left lower zone", "side": "left", "involvement_percent": 100.0, "score": 5},
    ],
    "slices": {"lesion_px_right": [0, 5, 10], "lesion_px_left": [0, 0, 20], "lesion_px_by_region": {}},
}


def test_profile_has_a_point_per_slice_per_lung_scaled_to_the_largest() -> None:
    svg = lesion_profile_svg({"anatomy": ANATOMY, "slices": [{}, {}, {}]})
    root = ET.fromstring(svg)
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 2
    points = [[tuple(map(float, p.split(","))) for p in line.get("points", "").split()] for line in lines]
    assert all(len(p) == 3 for p in points)
    left_top = min(y for _, y in points[1])
    assert left_top < min(y for _, y in points[0])  # 20 px is the highest point
    assert ">20<" in svg


def test_bars_are_as_long_as_the_share_involved_and_carry_the_score() -> None:
    svg = regions_svg(ANATOMY)
    widths = [
        float(w)
        for w in re.findall(r'<rect x="\d+" y="[\d.]+" width="([\d.]+)" height="\d+" fill="#[0-9a-f]{6}"/>', svg)
    ]
    assert len(widths) == 2  # the coloured bars (the grey tracks are #eee)
    assert widths[0] == widths[1] * 0.5
    assert "score 3" in svg and "score 5" in svg


def test_section_inside_html_holds_no_url_and_escapes() -> None:
    html = anatomy_section({"anatomy": ANATOMY, "slices": []})
    assert "http" not in html and "<thirds>" not in html and "&lt;thirds&gt;" in html
    assert "CT severity score: <strong>7 / 30</strong>" in html and "Lungs and zones" in html
    assert anatomy_section({"anatomy": None}) == "" and CHART_WIDTH_PX > 0
