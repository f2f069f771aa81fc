"""The ``ctangel`` command."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import typer

# typer 0.29 carries its own copy of click; its exceptions are what the commands raise.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from ctangel.cli.analyze import analyze_command
from ctangel.cli.evaluate import evaluate_command
from ctangel.cli.phantom import phantom_command
from ctangel.cli.prepare import prepare_command
from ctangel.cli.serve import serve_command
from ctangel.cli.train import pseudolabel_command, snapshot_command, train_command
from ctangel.errors import CtangelError, InputError

#: Exit codes: an input or setting failed; the command line is wrong (as click's); interrupted (128 + SIGINT).
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Find COVID-19 pneumonia on chest CT.")
app.command("analyze")(analyze_command)
app.command("evaluate")(evaluate_command)
app.command("train")(train_command)
app.command("pseudolabel")(pseudolabel_command)
app.command("snapshot")(snapshot_command)
app.command("prepare")(prepare_command)
app.command("phantom")(phantom_command)
app.command("serve")(serve_command)


class InputErrorsPrintedByCommand(logging.Filter):
    """Drops the library's log records of input errors: the command prints each one itself, once, as
    ``error: PATH: problem`` at the end of its run."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (record.levelno >= logging.ERROR and any(isinstance(a, InputError) for a in args))


def run(args: Sequence[str]) -> int:
    """Run the command line ``args``; every failure becomes one ``error:`` line on stderr.

    Returns:
        the exit code: 0 when everything given was analysed, 1 when an input, a setting or a write failed,
        2 for a wrong command line, 130 when interrupted.
    """
    try:
        code = app(args=list(args), prog_name="ctangel", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx is not None else str(exc), err=True)
        return EXIT_USAGE
    except UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "ctangel"
        typer.echo(f"error: {exc.format_message()} (see '{command} --help')", err=True)
        return EXIT_USAGE
    except ClickException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except CtangelError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_FAILED
    except OSError as exc:  # a write into --out, or a read the readers do not own, failed: say which file
        where = f"{exc.filename}: " if exc.filename else ""
        typer.echo(f"error: {where}{exc.strerror or exc}; check the path and its permissions", err=True)
        return EXIT_FAILED
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    return code if isinstance(code, int) else 0


def main() -> None:
    """Entry point: run the command line, with ctangel's log lines on stderr, and exit with its code."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(InputErrorsPrintedByCommand())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
