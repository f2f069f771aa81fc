"""The pipeline with stand-in models whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy import ndimage as ndi

from ctangel.constants import LESION_PROBABILITY_THRESHOLD
from ctangel.inference import AnalysisSettings, Pipeline
from ctangel.io.study import DisplayTransform, Study
from ctangel.models.checkpoint import Checkpoint, InputSpec
from ctangel.models.network import NetworkConfig
from ctangel.models.registry import LoadedModel

#: GGO at -500 HU is 0.667 in the W1200/L-700 window; lung (-850) 0.375, tissue (40) 1.0.
GGO_LOW, GGO_HIGH = 0.6, 0.85


def lung_runner(batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """'Lung' = dark pixels not connected to the grid's border (the air around the body)."""
    out = np.zeros_like(batch)
    for i, img in enumerate(batch):
        labels, _ = ndi.label(img < 0.5)
        border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        out[i] = (labels > 0) & ~np.isin(labels, border)
    return out


def lesion_runner(batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """'Lesion' = flat ground-glass grey (not the grey of a blurred lung edge)."""
    mean = ndi.uniform_filter(batch, size=(1, 5, 5))
    std = np.sqrt(np.maximum(ndi.uniform_filter(batch**2, size=(1, 5, 5)) - mean**2, 0))
    return ((mean > GGO_LOW) & (mean < GGO_HIGH) & (std < 0.02)).astype(np.float32) * 0.9


def fake(task: str, runner: object, spec: InputSpec) -> LoadedModel:
    ckpt = Checkpoint(task, NetworkConfig(), spec, {}, {})  # type: ignore[arg-type]
    return LoadedModel(name=f"fake-{task}", sha256="0" * 64, checkpoint=ckpt, runner=runner, backend="torch")  # type: ignore[arg-type]


def pipeline(**settings: object) -> Pipeline:
    return Pipeline(
        AnalysisSettings(**settings),  # type: ignore[arg-type]
        lung_model=fake("lung", lung_runner, InputSpec(side=128, crop="whole")),
        lesion_model=fake("lesion", lesion_runner, InputSpec(side=256, crop="lung_box", margin=0.08)),
    )


def chest_slice(ggo: tuple[int, int, int] | None) -> npt.NDArray[np.float32]:
    """512x512 HU: air, a body, two lungs, and a GGO blob ``(row, col, radius)`` in the right lung."""
    rows, cols = np.mgrid[:512, :512]
    hu = np.full((512, 512), -1000.0, np.float32)
    hu[((rows - 256) / 200) ** 2 + ((cols - 256) / 230) ** 2 < 1] = 40.0
    for c in (160, 352):
        hu[((rows - 250) / 120) ** 2 + ((cols - c) / 70) ** 2 < 1] = -850.0
    if ggo is not None:
        r, c, rad = ggo
        hu[(rows - r) ** 2 + (cols - c) ** 2 < rad**2] = -500.0
    return hu


def study(slices: list[npt.NDArray[np.float32]], display: DisplayTransform | None = None, pid: str = "P1") -> Study:
    display = display or DisplayTransform()
    stored = [display.invert(s) for s in slices]
    return Study(
        patient_id=pid,
        study_id="st",
        series_id="se",
        input="in",
        kind="hu",
        sources=[f"in/{i}.dcm" for i in range(len(slices))],
        loader=lambda i: display.apply(stored[i]),  # type: ignore[arg-type,return-value]
        display=display,
        is_volume=True,
        pixel_spacing_mm=(0.7, 0.7),
        slice_spacing_mm=5.0,
    )


def test_lesion_found_boxed_and_called() -> None:
    result = pipeline().analyze_studies([study([chest_slice((250, 160, 20)), chest_slice(None)])])
    (patient,) = result.patients
    (st,) = patient.studies
    s0, s1 = st.slices
    assert s0.positive and not s1.positive
    (box,) = s0.boxes
    # the blob spans rows/cols centre +- 20: box edges (140, 230, 180, 270), less the stand-in runner's
    # 5x5 flatness test, which eats up to 2 model pixels (1.5 input px each) off the blob's rim
    np.testing.assert_allclose(box.box, (140, 230, 180, 270), atol=6)
    assert 0.5 * np.pi * 20**2 < box.area_px <= 1.05 * np.pi * 20**2  # the same rim lost
    assert s0.lesion_probability == pytest.approx(0.9, abs=0.01)
    assert s1.lesion_probability < 0.5
    # lung box: both lungs, rows 130..370, cols 90..422, give or take the 4x resampling
    assert s0.lung_box is not None
    np.testing.assert_allclose(s0.lung_box, (90, 130, 422, 370), atol=6)
    # one positive slice of two: the default rule needs K = 5 positive slices, all of them when fewer
    assert not st.positive and not patient.positive
    assert st.lung_involvement_percent is not None and 0 < st.lung_involvement_percent < 10


def test_min_area_and_patient_rule_are_settings() -> None:
    small = study([chest_slice((250, 160, 2))])  # ~13 px: under 25
    assert not pipeline().analyze_studies([small]).patients[0].studies[0].slices[0].positive
    two = study([chest_slice((250, 160, 20)), chest_slice((250, 352, 20))])
    assert pipeline(patient_min_lesion_area_px_at_512=0).analyze_studies([two]).patients[0].positive
    assert not pipeline(patient_min_lesion_area_px_at_512=5000).analyze_studies([two]).patients[0].positive
    one = study([chest_slice((250, 160, 20)), chest_slice(None)])
    assert not pipeline().analyze_studies([one]).patients[0].positive
    one_slice = pipeline(patient_min_positive_slices=1, patient_min_lesion_area_px_at_512=0)
    assert one_slice.analyze_studies([one]).patients[0].positive


def test_boxes_are_reported_in_stored_pixels() -> None:
    flipped = DisplayTransform(flip_cols=True)
    result = pipeline().analyze_studies([study([chest_slice((250, 160, 20))], flipped)])
    (box,) = result.patients[0].studies[0].slices[0].boxes
    # display cols 140..180 are stored cols 512-180..512-140
    np.testing.assert_allclose(box.box, (332, 230, 372, 270), atol=6)


def test_no_lung_no_lesion() -> None:
    air = np.full((512, 512), -1000.0, np.float32)
    (s,) = pipeline().analyze_studies([study([air])]).patients[0].studies[0].slices
    assert s.lung_box is None and not s.positive and s.lesion_probability == 0.0


def test_patients_group_studies_and_results_dict() -> None:
    res = pipeline().analyze_studies(
        [
            study([chest_slice(None)], pid="A"),
            study([chest_slice(None)], pid="B"),
            study([chest_slice(None)], pid="A"),
        ]
    )
    assert [p.patient_id for p in res.patients] == ["A", "B"]
    assert len(res.patients[0].studies) == 2
    d = res.to_dict()
    assert d["models"]["lung"]["name"] == "fake-lung"
    assert d["settings"]["lesion_threshold"] == LESION_PROBABILITY_THRESHOLD
    assert d["patients"][0]["studies"][0]["slices"][0]["source"] == "in/0.dcm"


def test_top_level_exports_and_errors_pass_through_analyze_studies() -> None:
    import ctangel
    from ctangel.errors import InputError

    assert ctangel.Pipeline is Pipeline and ctangel.AnalysisSettings is AnalysisSettings
    res = pipeline().analyze_studies([study([chest_slice(None)]), InputError("gone.dcm", "no such file")])
    assert [p.patient_id for p in res.patients] == ["P1"]
    assert res.errors == [{"input": "gone.dcm", "error": "no such file"}]
