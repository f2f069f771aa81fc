"""Keeping patient data out of the service's log.

The pipeline's own log lines name input files and output folders, and in the service those are made from
what a patient's upload holds (file names in a zip, patient ids); DICOM readers may quote attribute
values. So while the service runs, lines from the library and the readers are withheld (below WARNING) or
replaced by a neutral line that says where to look (WARNING and above); the service's own logger
(:data:`service_logger`, ``ctangel.service``) logs job ids, counts and sizes only and passes untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from ctangel.log import logger

#: The service's logger: job ids, file counts and sizes only, never names or ids from the data.
service_logger = logger.getChild("service")

#: Loggers whose records may carry patient data: the library's and the readers'.
GUARDED_LOGGERS: Final = ("ctangel", "pydicom", "nibabel", "nibabel.global", "PIL", "py.warnings")
WITHHELD: Final = "[withheld: this %s from %s may name patient data; the job's status says what happened]"


class PatientDataFilter(logging.Filter):
    """For records of the guarded loggers: drops those below WARNING and rewrites the others into a line
    holding no data from the input. Records of the service's logger and of other loggers pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether to keep ``record`` (rewritten in place)."""
        if _under(record.name, service_logger.name) or not any(_under(record.name, g) for g in GUARDED_LOGGERS):
            return True
        if record.levelno < logging.WARNING:
            return False
        record.msg = WITHHELD
        record.args = (record.levelname.lower(), record.name)
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


def guard_logs() -> Callable[[], None]:
    """Install :class:`PatientDataFilter` on the guarded loggers and on the root logger's handlers (which
    see every record that reaches them, from any logger); returns a function that removes it again."""
    guard = PatientDataFilter()
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in GUARDED_LOGGERS]
    targets.extend(logging.getLogger().handlers)
    for target in targets:
        target.addFilter(guard)

    def remove() -> None:
        for target in targets:
            target.removeFilter(guard)

    return remove


def _under(name: str, parent: str) -> bool:
    return name == parent or name.startswith(parent + ".")
