"""The ``ctangel`` command."""

from __future__ import annotations

import logging
import sys

import typer

from ctangel.cli.analyze import analyze_command
from ctangel.cli.evaluate import evaluate_command
from ctangel.cli.phantom import phantom_command
from ctangel.cli.prepare import prepare_command
from ctangel.cli.serve import serve_command
from ctangel.cli.train import pseudolabel_command, snapshot_command, train_command
from ctangel.errors import CtangelError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Find COVID-19 pneumonia on chest CT.")
app.command("analyze")(analyze_command)
app.command("evaluate")(evaluate_command)
app.command("train")(train_command)
app.command("pseudolabel")(pseudolabel_command)
app.command("snapshot")(snapshot_command)
app.command("prepare")(prepare_command)
app.command("phantom")(phantom_command)
app.command("serve")(serve_command)


def main() -> None:
    """Entry point: run the app, turning ctangel's errors into one line and exit code 1."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        app(standalone_mode=False)
    except CtangelError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
