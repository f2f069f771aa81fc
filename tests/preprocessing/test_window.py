from __future__ import annotations

import numpy as np
import pytest

from ctangel.errors import ConfigError
from ctangel.preprocessing import Window, scale_uint8, to_unit_range, window_hu


def test_ct_angel_window_maps_by_hand() -> None:
    # W1200/L-700: -1300 HU -> 0, -700 -> 0.5, -100 -> 1; outside clipped.
    hu = np.array([-2048, -1300, -1000, -700, -400, -100, 0, 3000], dtype=np.int16)
    out = window_hu(hu, Window())
    np.testing.assert_allclose(out, [0, 0, 0.25, 0.5, 0.75, 1, 1, 1], atol=1e-6)
    assert out.dtype == np.float32


def test_window_bounds() -> None:
    w = Window(width=400, level=40)
    assert (w.lower, w.upper) == (-160, 240)
    with pytest.raises(ConfigError):
        Window(width=0)


def test_uint8_scaling_and_dispatch() -> None:
    px = np.array([0, 51, 255], dtype=np.uint8)
    np.testing.assert_allclose(scale_uint8(px), [0, 0.2, 1], atol=1e-6)
    np.testing.assert_allclose(to_unit_range(px, "uint8", Window(10, 0)), [0, 0.2, 1], atol=1e-6)
    np.testing.assert_allclose(to_unit_range(np.array([-700.0]), "hu", Window()), [0.5])
    with pytest.raises(ConfigError):
        to_unit_range(px, "rgb", Window())  # type: ignore[arg-type]
