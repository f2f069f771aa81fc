"""ctangel: find COVID-19 pneumonia on chest CT, on an ordinary CPU.

The Python API is :class:`ctangel.inference.Pipeline`; ``ctangel analyze`` and ``ctangel serve`` call it.
"""

from __future__ import annotations

__version__ = "0.1.0"
