"""Exceptions with messages that name the file and say what to do."""

from __future__ import annotations

from pathlib import Path


class CtangelError(Exception):
    """Base class of every error ctangel raises on purpose."""


class InputError(CtangelError):
    """An input file or folder cannot be analysed.

    Args:
        path: the file or folder at fault, as the user gave it.
        problem: what is wrong and, where possible, what to do about it; kept to one line (the messages of
            the libraries it quotes may span several).
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = " ".join(line.strip() for line in problem.splitlines() if line.strip())
        super().__init__(f"{self.path}: {problem}")


class WeightsError(CtangelError):
    """A weight file is missing, corrupt or does not match the registry."""


class ConfigError(CtangelError):
    """A setting or configuration file is invalid."""


class OutputError(CtangelError):
    """An output file cannot be written (the message names it)."""
