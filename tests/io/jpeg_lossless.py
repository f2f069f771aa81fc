"""A tiny lossless-JPEG encoder (ITU T.81 process 14, first-order prediction), for tests only.

pydicom cannot encode JPEG Lossless SV1 (transfer syntax 1.2.840.10008.1.2.4.70), the compression most
clinical CT archives use, so tests write it with this: one component, predictor 1 (the pixel to the left),
point transform 0, one Huffman table in which every difference category (SSSS 0..16) has a 5-bit code.
"""

from __future__ import annotations

import struct
from typing import Final

import numpy as np
import numpy.typing as npt

#: Markers (T.81 table B.1).
SOI: Final = b"\xff\xd8"
SOF3: Final = b"\xff\xc3"
DHT: Final = b"\xff\xc4"
SOS: Final = b"\xff\xda"
EOI: Final = b"\xff\xd9"
#: Selection value 1: predict from the pixel to the left (Ra).
PREDICTOR_LEFT: Final = 1
#: Difference categories SSSS = 0..16 (T.81 table H.2), each coded with CODE_LENGTH bits: code = SSSS.
CATEGORIES: Final = 17
CODE_LENGTH: Final = 5
#: Differences are taken modulo 2**16 (T.81 H.1.2.1).
MODULUS: Final = 1 << 16
HALF: Final = 1 << 15


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self._acc = 0
        self._count = 0

    def write(self, value: int, length: int) -> None:
        for shift in range(length - 1, -1, -1):
            self._acc = (self._acc << 1) | ((value >> shift) & 1)
            self._count += 1
            if self._count == 8:
                self._flush_byte()

    def _flush_byte(self) -> None:
        self.out.append(self._acc)
        if self._acc == 0xFF:
            self.out.append(0x00)  # byte stuffing
        self._acc = 0
        self._count = 0

    def finish(self) -> bytes:
        if self._count:
            self.write((1 << (8 - self._count)) - 1, 8 - self._count)  # pad with 1-bits
        return bytes(self.out)


def _predictions(image: npt.NDArray[np.int64], precision: int) -> npt.NDArray[np.int64]:
    """T.81 H.1.1: first pixel 2**(P-1), first row from the left, first column from above, else the left."""
    pred = np.empty_like(image)
    pred[0, 0] = 1 << (precision - 1)
    pred[0, 1:] = image[0, :-1]
    pred[1:, 0] = image[:-1, 0]
    pred[1:, 1:] = image[1:, :-1]
    return pred


def encode_jpeg_lossless(image: npt.NDArray[np.integer], precision: int) -> bytes:
    """Encode a 2-D image of unsigned ``precision``-bit samples (2..16) as a lossless JPEG (SOF3) stream.

    Signed DICOM pixels are passed as their two's-complement bit patterns (``view(np.uint16)``).
    """
    rows, cols = image.shape
    samples = image.astype(np.int64)
    if samples.min() < 0 or samples.max() >= (1 << precision):
        raise ValueError(f"samples must be unsigned {precision}-bit values")
    diffs = (samples - _predictions(samples, precision)) % MODULUS
    diffs = np.where(diffs > HALF, diffs - MODULUS, diffs)

    bits = _BitWriter()
    for diff in diffs.ravel().tolist():
        category = 16 if diff == HALF else abs(diff).bit_length()
        bits.write(category, CODE_LENGTH)
        if 0 < category < 16:
            extra = diff if diff > 0 else diff - 1
            bits.write(extra & ((1 << category) - 1), category)
    scan = bits.finish()

    sof = SOF3 + struct.pack(">HBHHB", 11, precision, rows, cols, 1) + bytes([1, 0x11, 0])
    counts = [0] * 16
    counts[CODE_LENGTH - 1] = CATEGORIES
    table = bytes([0x00, *counts, *range(CATEGORIES)])
    dht = DHT + struct.pack(">H", 2 + len(table)) + table
    sos = SOS + struct.pack(">HB", 8, 1) + bytes([1, 0x00, PREDICTOR_LEFT, 0, 0x00])
    return SOI + sof + dht + sos + scan + EOI
