from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import jsonschema
import numpy as np

if TYPE_CHECKING:
    from conftest import Driver


def _run(make_driver: Callable[..., Driver]) -> Driver:
    driver = make_driver()
    grey = np.full((24, 24), 90, dtype=np.uint8)
    lesion = np.zeros((24, 24), dtype=bool)
    lesion[4:12, 6:14] = True
    driver.study([grey, grey], [lesion, lesion], ["in/<script>.png", "in/b&c.png"], patient_id="../evil")
    driver.study([grey], [np.zeros_like(lesion)], ["other/z.png"], patient_id="p2")
    driver.fail("bad/<img src=x onerror=alert(1)>.dcm", "not a DICOM file")
    driver.finish()
    return driver


def test_results_json_follows_the_schema(make_driver: Callable[..., Driver], results_schema: dict) -> None:
    driver = _run(make_driver)
    doc = json.loads(driver.writer.results_path.read_text(encoding="utf-8"))
    jsonschema.validate(doc, results_schema)
    study = doc["patients"][0]["studies"][0]
    assert doc["patients"][0]["patient_id"] == "../evil"  # ids are kept as they are; only file names change
    assert study["outputs"]["montage"] == "studies/evil_s1/montage.png"
    assert [o["index"] for o in study["outputs"]["overlays"]] == [0, 1]


def test_report_is_self_contained_and_escaped(make_driver: Callable[..., Driver]) -> None:
    driver = _run(make_driver)
    text = driver.writer.report_path.read_text(encoding="utf-8")
    assert "POSITIVE" in text and "negative" in text
    assert "data:image/" in text
    assert "<script" not in text.lower() and "&lt;script&gt;.png" in text
    assert "<img src=x" not in text and "not a DICOM file" in text
    assert "b&amp;c.png" in text
    assert "http://" not in text and "https://" not in text
    assert "lung-test" in text and "ab" * 6 in text and "ab" * 7 not in text  # short sha256
    # Every link is relative and points at a file that was written.
    out = driver.writer.out_dir
    for href in re.findall(r'href="([^"#][^"]*)"', text):
        assert not href.startswith("/") and (out / href).is_file(), href


def test_no_output_escapes_the_output_folder(make_driver: Callable[..., Driver]) -> None:
    driver = _run(make_driver)
    out = driver.writer.out_dir.resolve()
    written = [p.resolve() for p in out.rglob("*") if p.is_file()]
    assert written and all(out in p.parents for p in written)
    assert sorted(p.name for p in (out / "studies").iterdir()) == ["evil_s1", "p2_s1"]
