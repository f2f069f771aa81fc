"""COVID-19-like lesions for the phantom: ground-glass opacities and consolidations near the pleura.

Each lesion is a union of a few soft-edged spheres placed at a known depth under the pleura of one lung;
its outline is made irregular by the lung's texture field. It is drawn only inside the lung.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ctangel.synthetic.anatomy import LEFT_LUNG, RIGHT_LUNG, Anatomy, Plane, smoothstep
from ctangel.synthetic.tubes import FloatArray, PlaneGrid


class LesionKind(StrEnum):
    """What a lesion looks like."""

    ggo = "ggo"
    consolidation = "consolidation"


@dataclass(frozen=True)
class LesionSpec:
    """Where and how big a lesion should be.

    Args:
        kind: ground glass or consolidation.
        side: :data:`RIGHT_LUNG` or :data:`LEFT_LUNG`.
        z_mm: height of its centre, mm from the top of the scan.
        direction_deg: toward which pleura it lies: 0 lateral, 90 posterior, -90 anterior.
        radius_mm: radius of its main sphere.
        depth: distance of its centre under the pleura, as a share of the radius (under 1 touches the pleura).
        hu: its density at the core.
    """

    kind: LesionKind
    side: int
    z_mm: float
    direction_deg: float
    radius_mm: float
    depth: float
    hu: float


#: The phantom's lesions: peripheral and subpleural, lower lobes and posterior first, as in COVID-19.
#: The upper lungs keep only one small lesion, so that many lung slices are lesion-free.
LESION_SPECS: Final = (
    LesionSpec(LesionKind.ggo, RIGHT_LUNG, 190.0, 70.0, 22.0, 0.6, -520.0),
    LesionSpec(LesionKind.ggo, LEFT_LUNG, 212.0, 15.0, 16.0, 0.65, -560.0),
    LesionSpec(LesionKind.ggo, RIGHT_LUNG, 118.0, -40.0, 12.0, 0.75, -580.0),
    LesionSpec(LesionKind.ggo, LEFT_LUNG, 236.0, 85.0, 17.0, 0.55, -500.0),
    LesionSpec(LesionKind.consolidation, RIGHT_LUNG, 232.0, 95.0, 14.0, 0.3, 5.0),
    LesionSpec(LesionKind.consolidation, LEFT_LUNG, 172.0, 35.0, 10.0, 0.35, 15.0),
)

#: Random variation of a lesion's placement: direction (degrees), height (mm), radius (factor).
DIRECTION_JITTER_DEG: Final = 12.0
Z_JITTER_MM: Final = 4.0
RADIUS_JITTER: Final = 0.1
#: Satellite spheres: how many, how far from the centre and how big, as shares of the radius.
SATELLITES: Final = 2
SATELLITE_OFFSET: Final = 0.6
SATELLITE_RADIUS: Final = (0.45, 0.7)
#: Satellites stray less in z than in-plane (lesions spread along the pleura).
SATELLITE_Z_SQUASH: Final = 0.6
#: Outline irregularity (share of the radius) and soft edge width (share of the radius) by kind.
IRREGULARITY: Final = {LesionKind.ggo: 0.18, LesionKind.consolidation: 0.1}
EDGE: Final = {LesionKind.ggo: 0.25, LesionKind.consolidation: 0.08}
#: Density variation inside a lesion, HU, by kind.
INNER_TEXTURE_HU: Final = {LesionKind.ggo: 45.0, LesionKind.consolidation: 15.0}
#: Lung points within this height of the wanted centre define the lung's middle at that height.
LUNG_BAND_MM: Final = 8.0
#: Step and reach of the walk from the lung's middle to its pleura, mm.
PLEURA_STEP_MM: Final = 1.0
PLEURA_REACH_MM: Final = 200.0


@dataclass(frozen=True)
class Lesion:
    """One lesion of the phantom.

    Args:
        label: its value in the phantom's lesion label volume (1, 2, ...).
        kind: ground glass or consolidation.
        side: ``"right"`` or ``"left"`` lung (the patient's).
        centre_mm: ``(x, y, z)``: x toward the patient's left and y toward the back from the image centre,
            z from the top of the scan toward the feet.
        radius_mm: radius of the main sphere.
        hu: density at the core.
        spheres: ``(centre_mm, radius_mm)`` of each sphere of the union (the main one first).
    """

    label: int
    kind: LesionKind
    side: str
    centre_mm: tuple[float, float, float]
    radius_mm: float
    hu: float
    spheres: tuple[tuple[tuple[float, float, float], float], ...] = field(repr=False)

    @property
    def extent_mm(self) -> float:
        """Distance from the centre beyond which the lesion has no pixels."""
        reach = max(
            float(np.linalg.norm(np.subtract(c, self.centre_mm))) + r * (1 + IRREGULARITY[self.kind] + EDGE[self.kind])
            for c, r in self.spheres
        )
        return reach

    def field(self, grid: PlaneGrid, z: float, texture: FloatArray) -> tuple[tuple[slice, slice], FloatArray] | None:
        """The lesion's shape function on the plane at ``z``: over 0 inside, in shares of the radius.

        Returns:
            the rows and columns it may cover and the function there, or None when the plane misses it.
        """
        reach = self.extent_mm
        cx, cy, cz = self.centre_mm
        if abs(z - cz) > reach:
            return None
        win = grid.window(cx - reach, cx + reach, cy - reach, cy + reach)
        if win is None:
            return None
        rows, cols = win
        xs = grid.xs[cols][None, :]
        ys = grid.ys[rows][:, None]
        best = np.full((len(grid.ys[rows]), len(grid.xs[cols])), -np.inf, dtype=np.float32)
        for (sx, sy, sz), r in self.spheres:
            d2 = (xs - np.float32(sx)) ** 2 + (ys - np.float32(sy)) ** 2 + np.float32((z - sz) ** 2)
            np.maximum(best, (np.float32(r) - np.sqrt(d2)) / np.float32(self.radius_mm), out=best)
        best += np.float32(IRREGULARITY[self.kind]) * texture[rows, cols]
        return win, best

    def draw(self, plane: Plane, grid: PlaneGrid, z: float, labels: npt.NDArray[np.uint8]) -> None:
        """Blend the lesion into ``plane.hu`` inside the lung and mark its pixels in ``labels``, in place."""
        found = self.field(grid, z, plane.texture)
        if found is None:
            return
        win, shape = found
        lung = plane.lung[win] > 0
        edge = EDGE[self.kind]
        alpha = smoothstep(shape, -edge, edge).astype(np.float32) * lung
        hu = plane.hu[win]
        target = np.float32(self.hu) + np.float32(INNER_TEXTURE_HU[self.kind]) * plane.texture[win]
        hu += alpha * (target - hu)
        labels[win][(shape > 0) & lung] = self.label

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (without the slice range, which depends on the sampling)."""
        return {
            "label": self.label,
            "kind": self.kind.value,
            "side": self.side,
            "centre_mm": [round(v, 2) for v in self.centre_mm],
            "radius_mm": round(self.radius_mm, 2),
            "hu": round(self.hu, 1),
            "spheres": [{"centre_mm": [round(v, 2) for v in c], "radius_mm": round(r, 2)} for c, r in self.spheres],
        }


def place_lesions(
    anatomy: Anatomy, rng: np.random.Generator, specs: tuple[LesionSpec, ...] = LESION_SPECS
) -> list[Lesion]:
    """Put each specified lesion at its depth under the pleura, toward its direction, with small jitter.

    Args:
        anatomy: the body (its lung points and lung function place the lesions).
        rng: source of the jitter and of the satellites' placement.
        specs: what to place.

    Returns:
        the lesions, labelled 1, 2, ... in the order of ``specs``.
    """
    lesions = []
    for label, spec in enumerate(specs, start=1):
        z = spec.z_mm + rng.uniform(-Z_JITTER_MM, Z_JITTER_MM)
        radius = spec.radius_mm * (1 + rng.uniform(-RADIUS_JITTER, RADIUS_JITTER))
        angle = np.deg2rad(spec.direction_deg + rng.uniform(-DIRECTION_JITTER_DEG, DIRECTION_JITTER_DEG))
        lateral = -1.0 if spec.side == RIGHT_LUNG else 1.0
        direction = np.array([lateral * np.cos(angle), np.sin(angle)])
        centre = _under_pleura(anatomy, spec.side, z, direction, spec.depth * radius)
        spheres: list[tuple[tuple[float, float, float], float]] = [(centre, radius)]
        for _ in range(SATELLITES):
            offset = rng.standard_normal(3)
            offset[2] *= SATELLITE_Z_SQUASH
            offset *= SATELLITE_OFFSET * radius / max(float(np.linalg.norm(offset)), 1e-9)
            sat_centre = (centre[0] + offset[0], centre[1] + offset[1], centre[2] + offset[2])
            spheres.append((sat_centre, radius * rng.uniform(*SATELLITE_RADIUS)))
        side = "right" if spec.side == RIGHT_LUNG else "left"
        lesions.append(Lesion(label, spec.kind, side, centre, radius, spec.hu, tuple(spheres)))
    return lesions


def _under_pleura(
    anatomy: Anatomy, side: int, z: float, direction: npt.NDArray[np.float64], depth_mm: float
) -> tuple[float, float, float]:
    """The point ``depth_mm`` inside the pleura, walking from the lung's middle at height ``z`` along
    ``direction`` (in-plane unit vector)."""
    pts = anatomy.lung_points[side]
    band = pts[np.abs(pts[:, 2] - z) < LUNG_BAND_MM]
    if len(band) == 0:
        band = pts
    middle = band[:, :2].mean(axis=0)
    steps = np.arange(0.0, PLEURA_REACH_MM, PLEURA_STEP_MM)
    walk = middle[None, :] + steps[:, None] * direction[None, :]
    inside = anatomy.lung_label_points(walk[:, 0], walk[:, 1], np.full(len(steps), z)) == side
    outside = np.flatnonzero(~inside & (steps > 0))
    # The first step out of the lung after having been in it is the pleura.
    first_in = int(np.argmax(inside)) if inside.any() else 0
    out_after = outside[outside > first_in]
    pleura = steps[out_after[0]] if len(out_after) else steps[-1]
    distance = max(pleura - depth_mm, steps[first_in])
    x, y = middle + distance * direction
    return (float(x), float(y), float(z))
