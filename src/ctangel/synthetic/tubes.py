"""Tubes (capsules): straight segments with a radius, drawn into axial planes by their 3-D distance.

Used for every tubular structure of the phantom: airways, great vessels, the lungs' vessel trees.
Coordinates are millimetres: ``x`` to the patient's left (image columns), ``y`` to the back (image rows),
``z`` from the top of the scan toward the feet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

#: An axis whose z changes less than this (mm) over its length lies in an axial plane.
AXIS_IN_PLANE_EPS = 1e-9


@dataclass(frozen=True)
class PlaneGrid:
    """The pixel centres of an axial slice, in millimetres.

    Args:
        xs: ``(cols,)`` x of each column's centre.
        ys: ``(rows,)`` y of each row's centre.
        spacing_mm: pixel side (the same along rows and columns).
    """

    xs: FloatArray
    ys: FloatArray
    spacing_mm: float

    @classmethod
    def centred(cls, side: int, spacing_mm: float) -> PlaneGrid:
        """A ``side x side`` grid whose centre (between the middle pixels) is at ``x = y = 0``."""
        axis = ((np.arange(side, dtype=np.float32) - np.float32((side - 1) / 2)) * np.float32(spacing_mm)).astype(
            np.float32
        )
        return cls(axis, axis.copy(), spacing_mm)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)``."""
        return (len(self.ys), len(self.xs))

    def window(self, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice] | None:
        """The rows and columns whose centres lie in ``[x0, x1] x [y0, y1]`` (mm), or None when none do."""
        half = len(self.xs) / 2
        c0 = max(int(np.floor(x0 / self.spacing_mm + half - 0.5)), 0)
        c1 = min(int(np.ceil(x1 / self.spacing_mm + half - 0.5)) + 1, len(self.xs))
        r0 = max(int(np.floor(y0 / self.spacing_mm + half - 0.5)), 0)
        r1 = min(int(np.ceil(y1 / self.spacing_mm + half - 0.5)) + 1, len(self.ys))
        if c0 >= c1 or r0 >= r1:
            return None
        return (slice(r0, r1), slice(c0, c1))


@dataclass(frozen=True)
class Tubes:
    """A set of capsules.

    Args:
        starts: ``(n, 3)`` first end ``(x, y, z)`` of each axis segment, mm.
        ends: ``(n, 3)`` second end, mm.
        radii: ``(n,)`` radius, mm.
        generations: ``(n,)`` branching generation (0 at a tree's root; 0 for lone tubes).
    """

    starts: npt.NDArray[np.float64]
    ends: npt.NDArray[np.float64]
    radii: npt.NDArray[np.float64]
    generations: npt.NDArray[np.int16]

    @classmethod
    def of(cls, segments: list[tuple[tuple[float, float, float], tuple[float, float, float], float]]) -> Tubes:
        """Tubes from ``(start, end, radius)`` triples."""
        if not segments:
            return cls(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0, np.int16))
        starts = np.array([s[0] for s in segments], dtype=np.float64)
        ends = np.array([s[1] for s in segments], dtype=np.float64)
        radii = np.array([s[2] for s in segments], dtype=np.float64)
        return cls(starts, ends, radii, np.zeros(len(segments), np.int16))

    def __len__(self) -> int:
        return len(self.radii)

    def subset(self, keep: npt.NDArray[np.bool_]) -> Tubes:
        """The tubes where ``keep`` is true."""
        return Tubes(self.starts[keep], self.ends[keep], self.radii[keep], self.generations[keep])

    def moved(self, offset: tuple[float, float, float], radius_scale: float = 1.0) -> Tubes:
        """The same tubes shifted by ``offset`` mm, radii multiplied by ``radius_scale``."""
        shift = np.asarray(offset, dtype=np.float64)
        return Tubes(self.starts + shift, self.ends + shift, self.radii * radius_scale, self.generations)

    def distance_to_points(
        self,
        index: int,
        x: npt.NDArray[np.floating],
        y: npt.NDArray[np.floating],
        z: npt.NDArray[np.floating],
    ) -> npt.NDArray[np.float64]:
        """Distance (mm) from points (broadcastable arrays) to the axis of tube ``index``."""
        p0 = self.starts[index]
        v = self.ends[index] - p0
        vv = max(float(v @ v), np.finfo(np.float64).tiny)
        px, py, pz = x - p0[0], y - p0[1], z - p0[2]
        t = np.clip((px * v[0] + py * v[1] + pz * v[2]) / vv, 0.0, 1.0)
        return np.sqrt((px - t * v[0]) ** 2 + (py - t * v[1]) ** 2 + (pz - t * v[2]) ** 2)

    def crossing(self, z: float, reach: float = 0.0) -> npt.NDArray[np.intp]:
        """Indices of the tubes that come within their radius plus ``reach`` (mm) of the plane at ``z``."""
        lo = np.minimum(self.starts[:, 2], self.ends[:, 2]) - self.radii - reach
        hi = np.maximum(self.starts[:, 2], self.ends[:, 2]) + self.radii + reach
        return np.flatnonzero((lo <= z) & (z <= hi))

    def draw(
        self,
        grid: PlaneGrid,
        z: float,
        out: FloatArray,
        edge_mm: float,
        radius_scale: float = 1.0,
        radius_add_mm: float = 0.0,
        full_contrast_mm: float = 0.0,
    ) -> None:
        """Draw the tubes' cross-sections with the plane at ``z`` into ``out`` as coverage weights.

        The weight of a pixel is ``clip((r - d) / edge_mm + 0.5, 0, 1)`` with ``d`` its 3-D distance to the
        tube's axis and ``r = radius * radius_scale + radius_add_mm``; ``out`` keeps the larger of its value
        and the new weight.

        Args:
            grid: the plane's pixel centres.
            z: the plane's height, mm.
            out: ``grid.shape`` C-contiguous float32 weights, updated in place.
            edge_mm: width of the soft edge, mm.
            radius_scale: factor on every radius (a lumen inside a wall, for instance).
            radius_add_mm: added to every radius after scaling (a margin around a structure).
            full_contrast_mm: tubes thinner than this radius are drawn fainter, in proportion (partial
                volume of vessels narrower than a pixel).
        """
        radii = self.radii * radius_scale + radius_add_mm
        found = self._footprint(grid, z, radii + edge_mm / 2, radii > 0)
        if found is None:
            return
        seg, flat, d = found
        w = np.clip((radii[seg] - d) / edge_mm + 0.5, 0.0, 1.0)
        if full_contrast_mm > 0:
            w *= np.minimum(radii[seg] / full_contrast_mm, 1.0)
        np.maximum.at(out.reshape(-1), flat, w.astype(np.float32))

    def distance_map(self, grid: PlaneGrid, z: float, reach_mm: float) -> FloatArray:
        """Per pixel, the smallest distance (mm) to a tube's axis minus its radius, where under ``reach_mm``.

        Elsewhere the map holds ``inf``. Used for margins around structures (the lungs keep clear of them).
        """
        out = np.full(grid.shape, np.inf, dtype=np.float32)
        found = self._footprint(grid, z, self.radii + reach_mm, self.radii > 0)
        if found is not None:
            seg, flat, d = found
            np.minimum.at(out.reshape(-1), flat, (d - self.radii[seg]).astype(np.float32))
        return out

    def _footprint(
        self, grid: PlaneGrid, z: float, reach: npt.NDArray[np.float64], keep: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float64]] | None:
        """The pixels of the plane at ``z`` that may lie within ``reach`` (mm, per tube) of a kept tube.

        Returns:
            per pixel (one entry per tube that may reach it): the tube's index, the pixel's flat index in
            the plane, and its 3-D distance to the tube's axis; None when no tube reaches the plane.
        """
        lo_z = np.minimum(self.starts[:, 2], self.ends[:, 2]) - reach
        hi_z = np.maximum(self.starts[:, 2], self.ends[:, 2]) + reach
        cand = np.flatnonzero(keep & (lo_z <= z) & (z <= hi_z))
        if len(cand) == 0:
            return None
        p0 = self.starts[cand]
        v = self.ends[cand] - p0
        r = reach[cand]
        # The part of each axis within `reach` of the plane bounds its cross-section.
        flat_in_z = np.abs(v[:, 2]) < AXIS_IN_PLANE_EPS
        vz = np.where(flat_in_z, 1.0, v[:, 2])
        ta = np.where(flat_in_z, 0.0, (z - r - p0[:, 2]) / vz)
        tb = np.where(flat_in_z, 1.0, (z + r - p0[:, 2]) / vz)
        t0 = np.clip(np.minimum(ta, tb), 0.0, 1.0)
        t1 = np.clip(np.maximum(ta, tb), 0.0, 1.0)
        xa, xb = p0[:, 0] + t0 * v[:, 0], p0[:, 0] + t1 * v[:, 0]
        ya, yb = p0[:, 1] + t0 * v[:, 1], p0[:, 1] + t1 * v[:, 1]
        n_rows, n_cols = grid.shape
        half_c, half_r = n_cols / 2 - 0.5, n_rows / 2 - 0.5
        c0 = np.clip(np.floor((np.minimum(xa, xb) - r) / grid.spacing_mm + half_c), 0, n_cols).astype(np.intp)
        c1 = np.clip(np.ceil((np.maximum(xa, xb) + r) / grid.spacing_mm + half_c) + 1, 0, n_cols).astype(np.intp)
        r0 = np.clip(np.floor((np.minimum(ya, yb) - r) / grid.spacing_mm + half_r), 0, n_rows).astype(np.intp)
        r1 = np.clip(np.ceil((np.maximum(ya, yb) + r) / grid.spacing_mm + half_r) + 1, 0, n_rows).astype(np.intp)
        width = np.maximum(c1 - c0, 0)
        sizes = np.maximum(r1 - r0, 0) * width
        total = int(sizes.sum())
        if total == 0:
            return None
        local = np.repeat(np.arange(len(cand)), sizes)
        offset = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        rows = r0[local] + offset // width[local]
        cols = c0[local] + offset % width[local]
        px = grid.xs[cols].astype(np.float64) - p0[local, 0]
        py = grid.ys[rows].astype(np.float64) - p0[local, 1]
        pz = z - p0[local, 2]
        vl = v[local]
        vv = np.maximum(np.einsum("ij,ij->i", v, v), np.finfo(np.float64).tiny)[local]
        t = np.clip((px * vl[:, 0] + py * vl[:, 1] + pz * vl[:, 2]) / vv, 0.0, 1.0)
        d = np.sqrt((px - t * vl[:, 0]) ** 2 + (py - t * vl[:, 1]) ** 2 + (pz - t * vl[:, 2]) ** 2)
        return cand[local], rows * n_cols + cols, d
