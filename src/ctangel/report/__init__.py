"""The outputs of an analysis: results.json, overlay images, montages, masks and a self-contained HTML report.

Example::

    writer = OutputWriter(Path("out"), settings.window, labels=None, write_masks=True)
    Pipeline(settings).analyze(["study/"], sink=writer)
    writer.report_path  # out/report.html
"""

from __future__ import annotations

from ctangel.report.writer import OutputWriter

__all__ = ["OutputWriter"]
