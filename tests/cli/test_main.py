"""The ``ctangel`` entry point: exit codes and one ``error:`` line per problem, never a traceback."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ctangel.cli.main import EXIT_FAILED, EXIT_USAGE, InputErrorsPrintedByCommand, run
from ctangel.errors import InputError


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((32, 40), 100, np.uint8)).save(path)
    return path


def _models(tiny_models: tuple[Path, Path]) -> list[str]:
    return ["--lung-model", str(tiny_models[0]), "--lesion-model", str(tiny_models[1]), "--backend", "torch"]


def _error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def test_a_failed_input_exits_1_after_writing_the_rest(
    tmp_path: Path, tiny_models: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    good = _png(tmp_path / "p" / "a.png")
    code = run(
        ["analyze", str(good), str(tmp_path / "nonexistent"), "--out", str(tmp_path / "o"), *_models(tiny_models)]
    )
    assert code == EXIT_FAILED
    assert (tmp_path / "o" / "results.json").is_file()
    (line,) = _error_lines(capsys.readouterr().err)
    assert "nonexistent: no such file or folder" in line


def test_all_inputs_good_exits_0(tmp_path: Path, tiny_models: tuple[Path, Path]) -> None:
    assert run(["analyze", str(_png(tmp_path / "a.png")), "--out", str(tmp_path / "o"), *_models(tiny_models)]) == 0


@pytest.mark.parametrize(
    ("obstacle", "words"),
    [("results.json", "results.json: cannot be written (Is a directory)"), ("studies", "Not a directory")],
)
def test_write_failure_is_one_line(
    tmp_path: Path, tiny_models: tuple[Path, Path], capsys: pytest.CaptureFixture[str], obstacle: str, words: str
) -> None:
    out = tmp_path / "o"
    out.mkdir()
    if obstacle == "studies":
        (out / "studies").write_text("a file where a folder goes")
    else:
        (out / obstacle).mkdir()
    args = ["analyze", str(_png(tmp_path / "a.png")), "--out", str(out), "--overlays", "all", *_models(tiny_models)]
    assert run(args) == EXIT_FAILED
    err = capsys.readouterr().err
    (line,) = _error_lines(err)
    assert words in line and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["analyze", "x"], EXIT_USAGE),  # --out missing
        (["analyze", "x", "--out", "o", "--threshold", "abc"], EXIT_USAGE),
        (["frobnicate"], EXIT_USAGE),
        (["analyze", "x", "--out", "o", "--threshold", "1.5"], EXIT_FAILED),  # the settings refuse it
    ],
)
def test_usage_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], code: int
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(args) == code
    err = capsys.readouterr().err
    assert len(_error_lines(err)) == 1 and "Traceback" not in err, err


def test_exit_code_reaches_the_shell(tmp_path: Path) -> None:
    """Through ``python -m ctangel.cli.main``, as the installed script runs it (no model is loaded)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "ctangel.cli.main", "analyze", "x"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == EXIT_USAGE
    assert _error_lines(proc.stderr) == ["error: Missing option '--out' / '-o'. (see 'ctangel analyze --help')"]


def test_input_errors_are_logged_once() -> None:
    """The library logs each input error; the command prints it, so its log record is dropped."""
    keep = InputErrorsPrintedByCommand()
    record = logging.LogRecord("ctangel", logging.ERROR, __file__, 1, "%s", (InputError("a.dcm", "bad"),), None)
    other = logging.LogRecord("ctangel", logging.ERROR, __file__, 1, "disk %s", ("full",), None)
    assert not keep.filter(record) and keep.filter(other)


def test_deidentify_names_no_patient_in_any_output(
    tmp_path: Path, tiny_models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ctangel.io.deidentify import DEIDENTIFY_KEY_ENV

    monkeypatch.setenv(DEIDENTIFY_KEY_ENV, "a-key-for-the-test-0123")
    folder = tmp_path / "Doe_Jane_19610203"
    _png(folder / "Doe_Jane_1.png")
    _png(folder / "Doe_Jane_2.png")
    (folder / "Doe_Jane_3.png").write_bytes(b"\x89PNG\r\n\x1a\n damaged")
    out = tmp_path / "o"
    args = ["analyze", str(folder), "--out", str(out), "--masks", "--overlays", "all", "--deidentify"]
    assert run([*args, *_models(tiny_models)]) == EXIT_FAILED  # the damaged file
    printed = capsys.readouterr()
    texts = [printed.out, printed.err, *(p.read_text() for p in out.rglob("*") if p.suffix in (".json", ".html"))]
    texts += [str(p.relative_to(out)) for p in out.rglob("*")]
    assert all("Doe" not in t and "19610203" not in t for t in texts)
    first = (out / "results.json").read_text()
    assert run([*args, *_models(tiny_models)]) == EXIT_FAILED
    assert (out / "results.json").read_text().count("patient-") == first.count("patient-") > 0  # same key, same ids
