"""Branching trees of tubes that fill a region, for the lungs' vessels and airways.

The tree is grown by recursive bisection of a cloud of points sampled inside the region: a branch runs
from its parent's end toward the centre of the points it serves, then splits them in two across their
longest axis and gives each half to a child. Radii follow Murray's law (``r^3`` proportional to the share
of the points served), so vessels thin toward the periphery.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ctangel.synthetic.tubes import Tubes

#: A branch stops short of its points' centre, at this fraction of the way, before it splits.
BRANCH_REACH_FRACTION = 0.8
#: A set of this many points or fewer ends the branch (a leaf runs to their centre).
LEAF_POINTS = 3
#: Branches thinner than this (mm) are not grown further.
MIN_RADIUS_MM = 0.35
#: Murray's law exponent: the cube of a parent's radius is the sum of its children's cubes.
MURRAY_EXPONENT = 3.0


def grow_tree(points: npt.NDArray[np.float64], root: tuple[float, float, float], root_radius_mm: float) -> Tubes:
    """A tree of tubes from ``root`` that reaches every part of the region the points sample.

    Args:
        points: ``(n, 3)`` points (mm) inside the region the tree should fill.
        root: ``(x, y, z)`` where the tree enters the region, mm.
        root_radius_mm: radius of the first branch.

    Returns:
        the branches, with their generation (0 at the root).
    """
    starts: list[npt.NDArray[np.float64]] = []
    ends: list[npt.NDArray[np.float64]] = []
    radii: list[float] = []
    generations: list[int] = []
    total = len(points)
    stack: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int]] = [
        (np.asarray(root, dtype=np.float64), points, 0)
    ]
    while stack:
        start, pts, generation = stack.pop()
        radius = root_radius_mm * (len(pts) / total) ** (1 / MURRAY_EXPONENT)
        centre = pts.mean(axis=0)
        leaf = len(pts) <= LEAF_POINTS or radius < MIN_RADIUS_MM
        end = centre if leaf else start + (centre - start) * BRANCH_REACH_FRACTION
        starts.append(start)
        ends.append(end)
        radii.append(radius)
        generations.append(generation)
        if leaf:
            continue
        centred = pts - centre
        _, vectors = np.linalg.eigh(centred.T @ centred)
        along = centred @ vectors[:, -1]
        order = np.argsort(along, kind="stable")
        half = len(pts) // 2
        stack.append((end, pts[order[:half]], generation + 1))
        stack.append((end, pts[order[half:]], generation + 1))
    return Tubes(np.array(starts), np.array(ends), np.array(radii), np.array(generations, dtype=np.int16))
