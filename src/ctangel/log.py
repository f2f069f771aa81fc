"""The package logger. Library code logs here; only the CLI prints."""

from __future__ import annotations

import logging

logger = logging.getLogger("ctangel")
