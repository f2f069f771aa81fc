"""Pseudonyms for what identifies a patient, so that no output names one (``--deidentify``).

Every identifier a study carries into the outputs (results.json, report.html, overlay and mask file names,
the service's job list) is replaced, as the study is read, by a keyed hash: HMAC-SHA256 of the value under a
secret key, so that the same patient gets the same pseudonym in every run with the same key (studies can still
be grouped and compared) while nobody without the key can test a guess. Replaced: patient, study and series
ids, the input path, each slice's source path (file ending and NIfTI slice index kept), the paths in skipped
lines and input errors. Kept: the pixels, the geometry and the series description (modality, scanner).

The key comes from ``$CTANGEL_DEIDENTIFY_KEY``, else from a key file made once (mode 0600): the service's in
its data folder, the CLI's in ``$XDG_CONFIG_HOME/ctangel`` (``~/.config/ctangel``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Final

from ctangel.errors import ConfigError, InputError
from ctangel.io.study import SlicePixels, Study

#: Environment variable that gives the key (any text of at least :data:`MIN_KEY_CHARS` characters).
DEIDENTIFY_KEY_ENV: Final = "CTANGEL_DEIDENTIFY_KEY"
#: The key file's name in the service's data folder or the CLI's configuration folder.
KEY_FILE_NAME: Final = "deidentify.key"
#: Random bytes of a generated key, and the shortest key accepted from the environment.
KEY_BYTES: Final = 32
MIN_KEY_CHARS: Final = 16
KEY_FILE_MODE: Final = 0o600
#: Hex digits of the hash kept in a pseudonym (64 bits: no collision among any realistic number of patients).
PSEUDONYM_HEX_CHARS: Final = 16


class Deidentifier:
    """Replaces identifiers with keyed hashes.

    Args:
        key: the secret key.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_CHARS:
            raise ConfigError(f"a deidentification key must hold at least {MIN_KEY_CHARS} bytes")
        self._key = key

    def pseudonym(self, value: str, kind: str) -> str:
        """``kind-<16 hex digits>``: the same for the same ``value``, ``kind`` and key."""
        digest = hmac.new(self._key, f"{kind}\x00{value}".encode("utf-8", "surrogateescape"), hashlib.sha256)
        return f"{kind}-{digest.hexdigest()[:PSEUDONYM_HEX_CHARS]}"

    def path(self, path: str) -> str:
        """A pseudonym for a file or folder path, keeping its ending (``.dcm``, ``.nii.gz``) and a NIfTI slice
        index (``#k``)."""
        base, hash_mark, index = path.partition("#")
        name = PurePosixPath(base.replace("\\", "/")).name.lower()
        ending = ".nii.gz" if name.endswith(".nii.gz") else PurePosixPath(name).suffix
        return self.pseudonym(base, "file") + ending + (f"#{index}" if hash_mark else "")

    def text(self, text: str, paths: Iterable[str]) -> str:
        """``text`` with every one of ``paths`` in it replaced by its pseudonym (longest first)."""
        for path in sorted(set(paths), key=len, reverse=True):
            if path:
                text = text.replace(path, self.path(path))
        return text

    def error(self, error: InputError) -> InputError:
        """The error with its path, and the path where the problem quotes it, replaced."""
        return InputError(self.path(error.path), self.text(error.problem, [error.path]))

    def study(self, study: Study) -> Study:
        """A copy of ``study`` with its identifiers replaced; its pixels are read as before, and a slice that
        fails to read raises an :class:`InputError` naming the slice's pseudonym."""
        return dataclasses.replace(
            study,
            patient_id=self.pseudonym(study.patient_id, "patient"),
            study_id=self.pseudonym(study.study_id, "study"),
            series_id=self.pseudonym(study.series_id, "series"),
            input=self.path(study.input),
            sources=[self.path(s) for s in study.sources],
            loader=self._loader(study.loader),
            skipped=[self._skipped(line) for line in study.skipped],
        )

    def apply(self, items: Iterable[Study | InputError]) -> Iterator[Study | InputError]:
        """Each study or input error of ``items`` with its identifiers replaced."""
        for item in items:
            yield self.study(item) if isinstance(item, Study) else self.error(item)

    def _skipped(self, line: str) -> str:
        path, sep, reason = line.partition(": ")
        return f"{self.path(path)}{sep}{reason}"

    def _loader(self, load: Callable[[int], SlicePixels]) -> Callable[[int], SlicePixels]:
        def deidentified(index: int) -> SlicePixels:
            try:
                return load(index)
            except InputError as exc:
                raise self.error(exc) from None  # the original names the patient's files

        return deidentified


def cli_key_folder() -> Path:
    """Where the CLI keeps its key: ``$XDG_CONFIG_HOME/ctangel``, else ``~/.config/ctangel``."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "ctangel"


def load_or_create_key(folder: Path, environ: dict[str, str] | None = None) -> bytes:
    """The key: ``$CTANGEL_DEIDENTIFY_KEY``, else ``folder/deidentify.key``, else a new one written there.

    Raises:
        ConfigError: the key in the environment is too short, or the key file cannot be read or made.
    """
    env = os.environ if environ is None else environ
    given = env.get(DEIDENTIFY_KEY_ENV, "")
    if given:
        if len(given) < MIN_KEY_CHARS:
            raise ConfigError(f"${DEIDENTIFY_KEY_ENV} must hold at least {MIN_KEY_CHARS} characters")
        return given.encode()
    path = folder / KEY_FILE_NAME
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    except FileExistsError:
        return _read_key(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the deidentification key ({exc.strerror or exc})") from exc
    key = secrets.token_urlsafe(KEY_BYTES).encode()
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
        f.flush()
        os.fsync(f.fileno())
    return key


def _read_key(path: Path) -> bytes:
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the deidentification key ({exc.strerror or exc})") from exc
    if len(key) < MIN_KEY_CHARS:
        raise ConfigError(f"{path}: the deidentification key is too short; delete the file to have one made")
    return key
