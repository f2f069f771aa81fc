"""Tiny training folders in CT-Angel's layout, for the training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: A UNet++ small enough to train in a test.
TINY = {"features": [4, 4, 8, 8, 16, 4]}


def write_dataset(root: Path, lesions: bool) -> None:
    """Tiny slices: a bright body with two dark lungs; with ``lesions``, a grey blob in some lungs."""
    rows, cols = np.mgrid[:48, :48]
    lungs = (((rows - 24) / 14) ** 2 + ((cols - 15) / 7) ** 2 < 1) | (
        ((rows - 24) / 14) ** 2 + ((cols - 33) / 7) ** 2 < 1
    )
    for split, n in (("train", 6), ("val", 3)):
        (root / f"{split}_images").mkdir(parents=True)
        (root / f"{split}_labels").mkdir(parents=True)
        for i in range(n):
            img = np.where(lungs, 30, 220).astype(np.uint8)
            label = lungs.copy()
            if lesions:
                label = np.zeros_like(lungs)
                if i % 2 == 0:
                    blob = ((rows - 20 - i) ** 2 + (cols - 15) ** 2) < 16
                    img[blob] = 140
                    label = blob
            Image.fromarray(img).save(root / f"{split}_images" / f"s{i}.png")
            Image.fromarray(label.astype(np.uint8) * 255).save(root / f"{split}_labels" / f"s{i}.png")
