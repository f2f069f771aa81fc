"""Hostile inputs built by hand: images whose header promises a huge size, without the bytes to back it."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int, height: int, rows: int = 64) -> bytes:
    """A grey PNG whose header says ``width x height`` and whose data holds ``rows`` rows of zeros (the rest
    would decompress from nothing): what a decompression bomb looks like to a reader's header check."""
    raw = (b"\x00" + b"\x00" * width) * rows
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
