"""The phantom archive: one study per copy, each under its own patient id."""

from __future__ import annotations

from pathlib import Path

from ctangel.io.discover import discover
from ctangel.io.study import Study
from ctangel.synthetic.archive import write_phantom_archive


def test_each_copy_is_one_study_of_its_patient(tmp_path: Path) -> None:
    folders = write_phantom_archive(tmp_path / "archive", studies=(2, 1), slices=8)
    assert [f.relative_to(tmp_path / "archive").as_posix() for f in folders] == ["P0/S0", "P0/S1", "P1/S0"]
    found = list(discover([tmp_path / "archive"]))
    assert all(isinstance(s, Study) for s in found)
    studies = [s for s in found if isinstance(s, Study)]
    assert [(s.patient_id, len(s)) for s in studies] == [("PAT-0", 8), ("PAT-0", 8), ("PAT-1", 8)]
    assert len({s.series_id for s in studies}) == 3 and len({s.study_id for s in studies}) == 3
    assert (studies[0].read(3) == studies[2].read(3)).all()
