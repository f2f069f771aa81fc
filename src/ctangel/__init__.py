"""ctangel: find COVID-19 pneumonia on chest CT, on an ordinary CPU.

The Python API is :class:`Pipeline` with its :class:`AnalysisSettings`; ``ctangel analyze`` and
``ctangel serve`` call it::

    from ctangel import AnalysisSettings, Pipeline

    pipeline = Pipeline(AnalysisSettings(lesion_threshold=0.6))
    result = pipeline.analyze(["study/"])  # result.to_dict() is results.json
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["AnalysisSettings", "Pipeline", "__version__"]

if TYPE_CHECKING:
    from ctangel.inference import AnalysisSettings, Pipeline


def __getattr__(name: str) -> Any:
    """``Pipeline`` and ``AnalysisSettings``, imported when first asked for (``import ctangel`` stays light:
    the CLI starts without loading the inference stack)."""
    if name in ("Pipeline", "AnalysisSettings"):
        import ctangel.inference

        return getattr(ctangel.inference, name)
    raise AttributeError(f"module 'ctangel' has no attribute {name!r}")
