"""Writing output files so that a reader never sees half of one: a temporary file, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

#: Permissions of a finished output file (``mkstemp`` creates its files readable by the owner alone).
OUTPUT_FILE_MODE: Final = 0o644


@contextlib.contextmanager
def atomic_text(path: Path) -> Iterator[IO[str]]:
    """Open a UTF-8 text file for writing that appears at ``path`` only when the block ends without error.

    The temporary file lies in the same folder (a rename across file systems would not be atomic); on an
    error it is removed and ``path`` keeps what it held before.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            yield f
        os.chmod(tmp, OUTPUT_FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
