"""Writing output files so that a reader never sees half of one: a temporary file, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

from ctangel.errors import OutputError

#: Permissions of a finished output file (``mkstemp`` creates its files readable by the owner alone).
OUTPUT_FILE_MODE: Final = 0o644


@contextlib.contextmanager
def atomic_text(path: Path) -> Iterator[IO[str]]:
    """Open a UTF-8 text file for writing that appears at ``path`` only when the block ends without error.

    The temporary file lies in the same folder (a rename across file systems would not be atomic); on an
    error it is removed and ``path`` keeps what it held before.

    Raises:
        OutputError: the file cannot be created or put in place (a folder of that name, a full disk, no
            permission); the message names ``path``.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot be written ({exc.strerror or exc}); check the output folder") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            yield f
        os.chmod(tmp, OUTPUT_FILE_MODE)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise OutputError(
                f"{path}: cannot be written ({exc.strerror or exc}); remove what is in the way or choose another "
                "output folder"
            ) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
