"""File and folder names made from ids and paths: safe on every file system, short and unique."""

from __future__ import annotations

import hashlib
import re
from typing import Final

#: Longest name (without its suffix) a patient id, study id or file stem turns into.
MAX_NAME_CHARS: Final = 64
#: Characters of the sha1 of the original text appended to a name that had to be shortened.
NAME_HASH_CHARS: Final = 8
#: The name of an id that holds no usable character.
FALLBACK_NAME: Final = "unnamed"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DOTS = re.compile(r"\.{2,}")
_EDGE = "._-"
# Device names Windows will not open as files, whatever their extension.
_RESERVED: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)


def safe_name(text: str, max_chars: int = MAX_NAME_CHARS) -> str:
    """A file or folder name made from ``text``: only ``A-Z a-z 0-9 . _ -``, no path separator, no ``..``,
    no leading dot, at most ``max_chars`` characters (a shortened name ends with a hash of ``text``, so two
    long ids that share a prefix stay apart).
    """
    name = _DOTS.sub(".", _UNSAFE.sub("_", text)).strip(_EDGE) or FALLBACK_NAME
    if name.split(".")[0].upper() in _RESERVED:
        name = f"_{name}"
    if len(name) > max_chars:
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:NAME_HASH_CHARS]
        name = f"{name[: max(1, max_chars - NAME_HASH_CHARS - 1)].rstrip(_EDGE)}-{digest}"
    return name


class UniqueNames:
    """Hands out safe names that no earlier call got (compared ignoring case, as on macOS and Windows).

    >>> names = UniqueNames()
    >>> names.take("a/b"), names.take("a:b"), names.take("A_B", ".png")
    ('a_b', 'a_b-2', 'A_B.png')
    """

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def take(self, text: str, suffix: str = "") -> str:
        """A unique safe name for ``text``, with ``suffix`` (such as ``".png"``) appended."""
        base = safe_name(text)
        name, n = base + suffix, 1
        while name.lower() in self._taken:
            n += 1
            name = f"{base}-{n}{suffix}"
        self._taken.add(name.lower())
        return name
