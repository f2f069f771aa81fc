"""The service's configuration, its data folder's layout and its access token.

Layout of the data folder ``DATA``::

    DATA/token                          the access token (mode 0600), unless $CTANGEL_TOKEN gives it
    DATA/deidentify.key                 the key of --deidentify's pseudonyms (mode 0600), unless
                                        $CTANGEL_DEIDENTIFY_KEY gives it
    DATA/jobs.sqlite3                   the job queue and every job's state (SQLite, WAL mode)
    DATA/serve.lock                     held (flock) by the one server using this folder
    DATA/tmp/<random>/                  an upload while it arrives and is checked (removed after)
    DATA/jobs/<job_id>/input/           what the pipeline reads: the uploaded files, or the zip's content;
                                        removed when the job ends (or ``keep_inputs_s`` later)
    DATA/jobs/<job_id>/output/          the OutputWriter's folder: results.json, report.html, studies/,
                                        masks/ and masks.zip
    DATA/jobs/<job_id>/slices/<n>/      the viewer's images of study ``n``: ``<k>.png`` (lung window) and,
                                        for slices with lesion, ``<k>.lesion.png`` (boxes and contours)

An upload becomes a job folder by one rename of its ``tmp`` folder, so a job folder is always whole.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ctangel.errors import ConfigError
from ctangel.inference.settings import AnalysisSettings

if TYPE_CHECKING:
    from ctangel.service.dicom_node import DicomNodeConfig

#: Environment variable that gives the access token (else one is generated and stored in the data folder).
TOKEN_ENV: Final = "CTANGEL_TOKEN"
#: Environment variable that names the data folder (``ctangel serve --data-dir`` wins over it).
DATA_DIR_ENV: Final = "CTANGEL_DATA"
#: Random bytes of a generated token (43 URL-safe characters).
TOKEN_BYTES: Final = 32
#: A token given in the environment must be at least this long.
MIN_TOKEN_CHARS: Final = 16
#: Permissions of the token file: its owner alone may read it.
TOKEN_FILE_MODE: Final = 0o600
#: Permissions of the data folder and the folders in it.
DATA_DIR_MODE: Final = 0o700

MIB: Final = 1024 * 1024
GIB: Final = 1024 * MIB
#: Largest upload (all its files together), bytes.
DEFAULT_MAX_UPLOAD_BYTES: Final = 2 * GIB
#: Largest total a zip (or a gzip-compressed NIfTI) may unpack to, bytes.
DEFAULT_MAX_UNZIPPED_BYTES: Final = 8 * GIB
#: Most files a zip (or a multi-file upload) may hold.
DEFAULT_MAX_ZIP_FILES: Final = 20_000
#: Seconds an uploaded study (the job's input folder) is kept after its job ends: 0, deleted when it ends.
#: Its results (results.json, report, masks, viewer images) are kept until the job is deleted.
DEFAULT_KEEP_INPUTS_S: Final = 0.0
#: Seconds a client has to send a request's head (request line and headers).
DEFAULT_HEADER_TIMEOUT_S: Final = 10.0
#: Seconds an upload's body may stall between two chunks.
DEFAULT_BODY_TIMEOUT_S: Final = 30.0
#: Uploads checked (unpacked, discovered) at once; more wait their turn, so that a few heavy uploads cannot
#: take every thread of the server.
DEFAULT_MAX_CONCURRENT_INTAKES: Final = 2
#: Worker processes: one, since the pipeline already uses every core.
DEFAULT_WORKERS: Final = 1
#: Seconds an idle worker waits before looking at the queue again.
DEFAULT_POLL_INTERVAL_S: Final = 0.2
#: A job whose worker stopped (killed, out of memory, server restarts) this many times is failed.
DEFAULT_MAX_ATTEMPTS: Final = 3

DB_NAME: Final = "jobs.sqlite3"
TOKEN_NAME: Final = "token"
TMP_DIR: Final = "tmp"
JOBS_DIR: Final = "jobs"
INPUT_DIR: Final = "input"
OUTPUT_DIR: Final = "output"
SLICES_DIR: Final = "slices"


def default_data_dir() -> Path:
    """``$CTANGEL_DATA``, else ``$XDG_DATA_HOME/ctangel``, else ``~/.local/share/ctangel``."""
    given = os.environ.get(DATA_DIR_ENV)
    if given:
        return Path(given)
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "ctangel"


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the web service needs; the analysis itself is configured by ``analysis``.

    Args:
        data_dir: the data folder (see the module's docstring for its layout); created when missing.
        token: the access token; None takes ``$CTANGEL_TOKEN``, else the one stored in the data folder, else
            a new one (see :func:`load_or_create_token`).
        max_upload_bytes: largest upload, all its files together (413 above it).
        max_unzipped_bytes: largest total a zip, or a gzip-compressed NIfTI, may unpack to (413 above it).
        max_zip_files: most files a zip, or an upload of several files, may hold (413 above it).
        max_image_pixels: the pixel cap of every reader, at upload and in the workers (None: the default,
            or ``$CTANGEL_MAX_IMAGE_PIXELS``).
        keep_inputs_s: seconds a job's uploaded input is kept after the job ends (0: deleted when it ends).
        deidentify: replace patient identifiers with keyed hashes in every output, the job list included.
        header_timeout_s: seconds a client has to send a request's head (enforced by ``ctangel serve``'s
            HTTP protocol).
        body_timeout_s: seconds an upload may stall between two chunks (408 after it).
        max_concurrent_intakes: uploads checked at once (others wait).
        workers: worker processes; each loads the models once.
        analysis: the pipeline's settings (models, window, thresholds), as for ``ctangel analyze``.
        poll_interval_s: seconds an idle worker waits before looking at the queue again.
        max_attempts: a job whose worker stopped this many times is failed rather than tried again.
        dicom: the DICOM node (Storage SCP, SEG sent back), or None for none.

    Raises:
        ConfigError: a limit or count is not positive.
    """

    data_dir: Path
    token: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_unzipped_bytes: int = DEFAULT_MAX_UNZIPPED_BYTES
    max_zip_files: int = DEFAULT_MAX_ZIP_FILES
    max_image_pixels: int | None = None
    keep_inputs_s: float = DEFAULT_KEEP_INPUTS_S
    deidentify: bool = False
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    max_concurrent_intakes: int = DEFAULT_MAX_CONCURRENT_INTAKES
    workers: int = DEFAULT_WORKERS
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    dicom: DicomNodeConfig | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        for name in (
            "max_upload_bytes",
            "max_unzipped_bytes",
            "max_zip_files",
            "workers",
            "max_attempts",
            "max_concurrent_intakes",
        ):
            value = getattr(self, name)
            if value < 1:
                raise ConfigError(f"service: {name} must be at least 1, got {value}")
        if self.max_image_pixels is not None and self.max_image_pixels < 1:
            raise ConfigError(f"service: max_image_pixels must be at least 1, got {self.max_image_pixels}")
        if self.keep_inputs_s < 0:
            raise ConfigError(f"service: keep_inputs_s must not be negative, got {self.keep_inputs_s}")
        for name in ("header_timeout_s", "body_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"service: {name} must be positive, got {getattr(self, name)}")
        if self.poll_interval_s <= 0:
            raise ConfigError(f"service: poll_interval_s must be positive, got {self.poll_interval_s}")
        if self.token is not None:
            check_token(self.token, "the configured token")

    @property
    def layout(self) -> DataLayout:
        """Where things live in the data folder."""
        return DataLayout(self.data_dir)


@dataclass(frozen=True)
class DataLayout:
    """Paths in the data folder (nothing is created here; see :meth:`create`)."""

    root: Path

    @property
    def db(self) -> Path:
        """The SQLite job store."""
        return self.root / DB_NAME

    @property
    def token(self) -> Path:
        """The stored access token."""
        return self.root / TOKEN_NAME

    @property
    def tmp(self) -> Path:
        """Uploads in progress (same file system as the job folders, so a rename moves them atomically)."""
        return self.root / TMP_DIR

    @property
    def jobs(self) -> Path:
        """One folder per job."""
        return self.root / JOBS_DIR

    def job(self, job_id: str) -> Path:
        """A job's folder."""
        return self.jobs / job_id

    def input(self, job_id: str) -> Path:
        """What the job's pipeline reads."""
        return self.job(job_id) / INPUT_DIR

    def output(self, job_id: str) -> Path:
        """The job's OutputWriter folder."""
        return self.job(job_id) / OUTPUT_DIR

    def slices(self, job_id: str) -> Path:
        """The job's viewer images."""
        return self.job(job_id) / SLICES_DIR

    def create(self) -> None:
        """Create the data folder and its folders (owner-only).

        Raises:
            ConfigError: the data folder cannot be created.
        """
        try:
            for folder in (self.root, self.tmp, self.jobs):
                folder.mkdir(mode=DATA_DIR_MODE, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"{self.root}: cannot create the data folder ({exc}); choose another with --data-dir"
            ) from exc


def check_token(token: str, where: str) -> str:
    """``token`` when it is long enough and printable ASCII.

    Raises:
        ConfigError: it is not.
    """
    if len(token) < MIN_TOKEN_CHARS or not token.isascii() or not token.isprintable() or " " in token:
        raise ConfigError(
            f"{where}: an access token must be at least {MIN_TOKEN_CHARS} printable ASCII characters without "
            f"spaces; unset ${TOKEN_ENV} to have one generated"
        )
    return token


def load_or_create_token(data_dir: Path, environ: dict[str, str] | None = None) -> tuple[str, bool]:
    """The access token: ``$CTANGEL_TOKEN``, else the one stored in ``data_dir/token``, else a new one.

    A new token is written to ``data_dir/token`` with mode 0600 (created exclusively, then fsynced).

    Args:
        data_dir: the data folder (created when missing).
        environ: the environment to read (default ``os.environ``).

    Returns:
        ``(token, created)``; ``created`` is true only when a new token was generated, so that the caller
        can show it once.

    Raises:
        ConfigError: the token in the environment or the file is unusable, or the file cannot be written.
    """
    env = os.environ if environ is None else environ
    given = env.get(TOKEN_ENV, "")
    if given:
        return check_token(given, f"${TOKEN_ENV}"), False
    layout = DataLayout(Path(data_dir))
    layout.create()
    path = layout.token
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, TOKEN_FILE_MODE)
    except FileExistsError:
        return _read_token(path), False
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the token file ({exc}); check the data folder's permissions") from exc
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
        f.flush()
        os.fsync(f.fileno())
    return token, True


def _read_token(path: Path) -> str:
    try:
        if path.stat().st_mode & 0o077:
            os.chmod(path, TOKEN_FILE_MODE)  # others must not read it, whoever loosened it
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the token file ({exc}); delete it to have a new one made") from exc
    return check_token(text, str(path))
