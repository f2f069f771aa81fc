"""``ctangel analyze ... --scheduler ADDR`` / ``--workers N``: the analysis on a Dask cluster, with one progress bar."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

import typer

if TYPE_CHECKING:
    from ctangel.distributed import OutputOptions
    from ctangel.inference import AnalysisSettings, PatientResult

#: Dask's own loggers, held at WARNING: their INFO lines would drown the progress bar.
DASK_LOGGERS: Final = ("distributed", "dask")


def analyze_on_cluster_command(
    inputs: list[Path],
    out: Path,
    settings: AnalysisSettings,
    output: OutputOptions,
    scheduler: str | None,
    workers: int | None,
) -> None:
    """Run the analysis on the cluster, draw the progress, print the calls; exit 1 when an input failed."""
    from tqdm import tqdm

    from ctangel.distributed import ClusterObserver, ClusterOptions, analyze_on_cluster

    for name in DASK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    bar = tqdm(total=0, unit="slice", desc="analyse", file=sys.stderr, dynamic_ncols=True)

    class Observer(ClusterObserver):
        studies = 0
        done = 0
        failed = 0

        def connected(self, dashboard_link: str | None, workers: int) -> None:
            where = f"; dashboard: {dashboard_link}" if dashboard_link else ""
            bar.write(f"cluster: {workers} workers{where}", file=sys.stderr)

        def planned(self, studies: int, slices: int, done_studies: int, done_slices: int) -> None:
            self.studies, self.done = studies, done_studies
            if done_studies:
                bar.write(f"resuming: {done_studies} of {studies} studies already done", file=sys.stderr)
            bar.total = slices
            bar.update(done_slices)
            self._postfix()

        def slices(self, n: int) -> None:
            bar.update(n)

        def study(self, key: str, done: bool) -> None:
            self.done += done
            self.failed += not done
            self._postfix()

        def patient(self, result: PatientResult) -> None:
            bar.write(_verdict(result), file=sys.stderr)

        def _postfix(self) -> None:
            failed = f", {self.failed} failed" if self.failed else ""
            bar.set_postfix_str(f"studies {self.done}/{self.studies}{failed}")

    try:
        outcome = analyze_on_cluster(
            inputs, out, settings, output, ClusterOptions(scheduler=scheduler, workers=workers), Observer()
        )
    finally:
        bar.close()
    for patient in outcome.result.patients:
        typer.echo(_verdict(patient))
    typer.echo(f"studies: {outcome.analysed} analysed, {outcome.resumed} done by an earlier run")
    typer.echo(f"report: {outcome.report_path}")
    typer.echo(f"results: {outcome.results_path}")
    if outcome.result.errors:
        for err in outcome.result.errors:
            typer.echo(f"error: {err['input']}: {err['error']}", err=True)
        raise typer.Exit(code=1)


def _verdict(patient: PatientResult) -> str:
    n = sum(len(s.slices) for s in patient.studies)
    pos = sum(s.n_positive_slices for s in patient.studies)
    return f"{patient.patient_id}: {'POSITIVE' if patient.positive else 'negative'} ({pos}/{n} slices positive)"
