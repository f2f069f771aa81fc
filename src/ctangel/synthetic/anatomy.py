"""The phantom's anatomy: smooth analytic shapes in millimetres, sampled one axial plane at a time.

Coordinates: ``x`` toward the patient's left (image columns, left to right), ``y`` toward the patient's
back (image rows, top to bottom), ``z`` from the top of the scan toward the feet; ``x = y = 0`` is the
centre of the image. Every shape varies smoothly with ``z``, so neighbouring slices agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import sparse

from ctangel.constants import AIR_HU
from ctangel.synthetic.tubes import FloatArray, PlaneGrid, Tubes
from ctangel.synthetic.vessel_tree import grow_tree

# --- scan geometry ---------------------------------------------------------------------------------
#: A 36 cm reconstruction field of view on 512 pixels, as a GE scanner writes a chest.
PIXEL_SPACING_MM: Final = 0.703125
#: Radius of the reconstruction circle; outside it the scanner writes padding.
FOV_RADIUS_MM: Final = 180.0
#: The scan covers this much of the patient, neck to upper abdomen, whatever the slice count.
SCAN_LENGTH_MM: Final = 320.0

# --- Hounsfield units ------------------------------------------------------------------------------
PADDING_HU: Final = -2048.0
FAT_HU: Final = -100.0
MEDIASTINAL_FAT_HU: Final = -90.0
SKIN_HU: Final = 40.0
MUSCLE_HU: Final = 48.0
SOFT_TISSUE_HU: Final = 35.0
BLOOD_HU: Final = 40.0
HEART_HU: Final = 42.0
LIVER_HU: Final = 58.0
SPLEEN_HU: Final = 48.0
STOMACH_HU: Final = 25.0
UPPER_ABDOMEN_HU: Final = 15.0
THYROID_HU: Final = 90.0
ESOPHAGUS_HU: Final = 38.0
AIRWAY_WALL_HU: Final = 25.0
CARTILAGE_HU: Final = 130.0
RIB_MARROW_HU: Final = 260.0
CORTICAL_BONE_HU: Final = 950.0
VERTEBRA_CANCELLOUS_HU: Final = 420.0
DISC_HU: Final = 85.0
CSF_HU: Final = 10.0
TABLE_SHELL_HU: Final = 300.0
TABLE_CORE_HU: Final = -930.0
#: Lung parenchyma: anterior (non-dependent) and posterior (dependent) level, and texture amplitudes.
LUNG_ANTERIOR_HU: Final = -885.0
LUNG_POSTERIOR_HU: Final = -815.0
LUNG_COARSE_TEXTURE_HU: Final = 14.0
LUNG_FINE_TEXTURE_HU: Final = 9.0

# --- body ------------------------------------------------------------------------------------------
#: Centre of the body's (and the rib cage's) outline, from the image centre toward the back.
BODY_CENTRE_Y_MM: Final = -6.0
#: Outline half-width, half-depth in front of and behind the centre: at the neck and at the chest.
BODY_NECK_HALF_AXES_MM: Final = (140.0, 90.0, 112.0)
BODY_CHEST_HALF_AXES_MM: Final = (158.0, 110.0, 118.0)
#: The outline widens from neck to chest between these heights.
BODY_WIDENING_Z_MM: Final = (0.0, 55.0)
#: Superellipse exponent of the outline (2 is an ellipse; more is boxier).
BODY_EXPONENT: Final = 2.3
SKIN_MM: Final = 2.0
#: Subcutaneous fat thickness in front, at the sides and at the back.
FAT_FRONT_MM: Final = 11.0
FAT_SIDE_MM: Final = 14.0
FAT_BACK_MM: Final = 9.0

# --- rib cage (the pleural cavity's outer wall) ------------------------------------------------------
CAGE_HALF_AXES_MM: Final = (138.0, 90.0, 86.0)
CAGE_EXPONENT: Final = 2.2
#: At the top of the scan the cage is this fraction of its full size; it is full size from the next height.
CAGE_TOP_SCALE: Final = 0.5
CAGE_FULL_Z_MM: Final = 110.0

# --- spine -----------------------------------------------------------------------------------------
VERTEBRA_CENTRE_Y_MM: Final = 60.0
VERTEBRA_RADIUS_MM: Final = 17.0
CORTEX_MM: Final = 2.0
#: One vertebra and its disc per this much of z; the disc is this thick.
VERTEBRA_PITCH_MM: Final = 25.0
DISC_MM: Final = 5.0
CANAL_RADIUS_MM: Final = 8.0
#: Gap between the vertebral body and the spinal canal.
CANAL_GAP_MM: Final = 1.0
LAMINA_MM: Final = 5.0
SPINOUS_HALF_WIDTH_MM: Final = 4.0
SPINOUS_LENGTH_MM: Final = 13.0
TRANSVERSE_X_MM: Final = (10.0, 34.0)
TRANSVERSE_HALF_HEIGHT_MM: Final = 4.0
#: The lungs keep this far from the vertebral body.
SPINE_CLEARANCE_MM: Final = 6.0

# --- ribs ------------------------------------------------------------------------------------------
RIB_COUNT: Final = 12
FIRST_RIB_Z_MM: Final = 20.0
RIB_PITCH_MM: Final = 25.0
#: How much lower a rib's front end lies than its back end.
RIB_DROP_MM: Final = 100.0
RIB_HEIGHT_MM: Final = 10.0
RIB_THICKNESS_MM: Final = 7.0
#: Gap between the pleura and a rib.
RIB_GAP_MM: Final = 1.5
#: Share of a rib's cross-section (by normalised radius) that is marrow; the rest is cortex.
RIB_MARROW_FRACTION: Final = 0.65
#: Ribs start this far from the midline at the back (the vertebra is there).
RIB_MIN_X_MM: Final = 20.0
#: Angle from the back (degrees) where bone ends and costal cartilage begins, and where the cartilage ends,
#: for ribs 1-7, 8-10 and 11-12.
RIB_ANGLES_DEG: Final = ((145.0, 168.0), (130.0, 152.0), (95.0, 95.0))

# --- other bones -----------------------------------------------------------------------------------
STERNUM_Z_MM: Final = (50.0, 215.0)
STERNUM_MANUBRIUM_END_Z_MM: Final = 95.0
STERNUM_HALF_WIDTHS_MM: Final = (22.0, 14.0)
STERNUM_HALF_THICKNESS_MM: Final = 6.0
STERNUM_OUTSIDE_CAGE_MM: Final = 6.0
SCAPULA_Z_MM: Final = (10.0, 165.0)
SCAPULA_GAP_MM: Final = 13.0
SCAPULA_THICKNESS_MM: Final = 4.0
#: Angles from the back (degrees) the scapula spans at its top; its lower tip narrows to the second pair.
SCAPULA_TOP_ANGLES_DEG: Final = (38.0, 92.0)
SCAPULA_TIP_ANGLES_DEG: Final = (45.0, 55.0)
CLAVICLE_RADIUS_MM: Final = 7.0

# --- mediastinum -----------------------------------------------------------------------------------
MEDIASTINUM_CENTRE_MM: Final = (4.0, -5.0)
MEDIASTINUM_HALF_AXES_MM: Final = (27.0, 80.0)
HEART_CENTRE_MM: Final = (32.0, -28.0, 200.0)
HEART_HALF_AXES_MM: Final = (62.0, 47.0, 50.0)
#: The heart's long axis points to the patient's front left, this many degrees from the x axis.
HEART_ROTATION_DEG: Final = -35.0
#: Epicardial fat: a shell out to this factor of the heart's size.
HEART_FAT_SCALE: Final = 1.1
#: The lungs keep this far from the mediastinal vessels and airways.
MEDIASTINAL_CLEARANCE_MM: Final = 3.0
THYROID_Z_END_MM: Final = 40.0
THYROID_CENTRES_MM: Final = ((-19.0, -28.0), (19.0, -28.0))
THYROID_HALF_AXES_MM: Final = (11.0, 9.0)

# --- lungs -----------------------------------------------------------------------------------------
#: Lung apex: the top of each lung is at ``APEX_Z + d^2 / APEX_CURVATURE`` at distance ``d`` from its centre.
APEX_Z_MM: Final = 22.0
APEX_CENTRES_MM: Final = ((-58.0, 15.0), (58.0, 15.0))
APEX_CURVATURE_MM: Final = 80.0
#: Diaphragm domes (right, left): centre (x, y) and top z; the surface falls ``d^2 / DOME_CURVATURE`` away
#: from the centre (out to DOME_REACH), and more at the back (the posterior recesses).
DOME_CENTRES_MM: Final = ((-50.0, -10.0), (55.0, 0.0))
DOME_TOP_Z_MM: Final = (200.0, 212.0)
DOME_CURVATURE_MM: Final = 100.0
DOME_REACH_MM: Final = 85.0
DOME_BACK_SLOPE: Final = 0.15
#: Upper abdomen under the domes: stomach and spleen (centre x, y; half axes), liver to the right of LIVER_X.
STOMACH_MM: Final = ((65.0, -35.0), (45.0, 38.0))
SPLEEN_MM: Final = ((85.0, 45.0), (32.0, 42.0))
LIVER_MAX_X_MM: Final = 25.0

# --- airways and vessels ---------------------------------------------------------------------------
TRACHEA_TOP_MM: Final = (0.0, -35.0, -5.0)
CARINA_MM: Final = (0.0, 8.0, 110.0)
TRACHEA_RADIUS_MM: Final = 9.5
#: Main bronchi radius (right, left).
MAIN_BRONCHUS_RADIUS_MM: Final = (7.0, 6.0)
#: Lumen radius as a share of an airway's outer radius.
AIRWAY_LUMEN_FRACTION: Final = 0.75
#: Pulmonary arteries enter each lung (right, left) here; veins leave here; airways run beside the arteries.
ARTERY_ROOTS_MM: Final = ((-48.0, 8.0, 145.0), (46.0, 5.0, 138.0))
VEIN_ROOTS_MM: Final = ((-38.0, 26.0, 180.0), (40.0, 24.0, 175.0))
AIRWAY_OFFSET_MM: Final = (0.0, 8.0, -4.0)
ARTERY_ROOT_RADIUS_MM: Final = 5.5
VEIN_ROOT_RADIUS_MM: Final = 5.0
#: Airways are drawn for the first generations of the artery tree, their outer radius this share of it.
AIRWAY_GENERATIONS: Final = 4
AIRWAY_RADIUS_SCALE: Final = 1.1
#: Points sampled in each lung to shape each vessel tree.
TREE_POINTS: Final = 3000
#: Vessels thinner than this radius (mm) are drawn fainter in proportion (partial volume).
FULL_CONTRAST_RADIUS_MM: Final = 1.0
#: Soft edge of tubes, mm (about one pixel).
TUBE_EDGE_MM: Final = 0.8
#: Thick slices average tubes over sub-planes this far apart at most (partial volume), and at most this many.
SUBPLANE_SPACING_MM: Final = 1.25
MAX_SUBPLANES: Final = 4

# --- texture and table -----------------------------------------------------------------------------
COARSE_TEXTURE_MM: Final = 22.0
FINE_TEXTURE_MM: Final = 5.0
#: Texture kernel: Gaussian width as a share of the node spacing; weights under the cut-off are dropped.
TEXTURE_KERNEL_WIDTH: Final = 0.7
TEXTURE_KERNEL_CUTOFF: Final = 1e-4
#: Texture grids reach this many node spacings beyond the image and the scan.
TEXTURE_MARGIN_NODES: Final = 2
#: The table's top surface: at this depth under the centre, curved with this radius; shell and core thickness.
TABLE_TOP_Y_MM: Final = 113.0
TABLE_CURVE_RADIUS_MM: Final = 420.0
TABLE_HALF_WIDTH_MM: Final = 175.0
TABLE_SHELL_MM: Final = 2.5
TABLE_CORE_MM: Final = 20.0
#: Labels of the table's parts.
TABLE_SHELL: Final = 1
TABLE_CORE: Final = 2

#: Lung points are drawn in batches this many times the number wanted (about 1 in 6 falls in a lung).
SAMPLE_BATCH: Final = 8
#: Guards divisions by distances that may be 0, mm.
TINY: Final = 1e-6

#: Side labels of lung masks.
RIGHT_LUNG: Final = 1
LEFT_LUNG: Final = 2

Segment = tuple[tuple[float, float, float], tuple[float, float, float], float]

#: Mediastinal vessels (start, end, radius), mm: aorta, pulmonary arteries, caval and neck vessels.
GREAT_VESSELS: Final[tuple[Segment, ...]] = (
    ((8.0, -30.0, 178.0), (-8.0, -28.0, 95.0), 15.0),  # ascending aorta
    ((-8.0, -28.0, 90.0), (22.0, 32.0, 90.0), 13.0),  # arch
    ((22.0, 32.0, 90.0), (20.0, 36.0, 330.0), 12.0),  # descending aorta
    ((22.0, -52.0, 172.0), (18.0, -22.0, 140.0), 13.0),  # pulmonary trunk
    ((18.0, -22.0, 140.0), ARTERY_ROOTS_MM[0], 10.0),  # right pulmonary artery
    ((18.0, -22.0, 140.0), ARTERY_ROOTS_MM[1], 10.0),  # left pulmonary artery
    ((-30.0, -22.0, 30.0), (-26.0, -20.0, 178.0), 10.0),  # superior vena cava
    ((40.0, -40.0, 60.0), (-26.0, -28.0, 70.0), 7.0),  # left brachiocephalic vein
    ((-6.0, -26.0, 92.0), (-22.0, -30.0, -5.0), 6.0),  # brachiocephalic artery
    ((4.0, -18.0, 90.0), (20.0, -28.0, -5.0), 4.5),  # left common carotid
    ((14.0, -6.0, 88.0), (42.0, -10.0, 12.0), 5.0),  # left subclavian artery
    ((-32.0, -28.0, -5.0), (-30.0, -22.0, 32.0), 8.0),  # right jugular vein
    ((32.0, -28.0, -5.0), (40.0, -40.0, 60.0), 7.0),  # left jugular and brachiocephalic vein
)
ESOPHAGUS: Final[tuple[Segment, ...]] = (
    ((4.0, 28.0, -5.0), (12.0, 30.0, 240.0), 7.0),
    ((12.0, 30.0, 240.0), (45.0, 5.0, 290.0), 7.0),
)
ESOPHAGUS_LUMEN_FRACTION: Final = 0.25
CLAVICLES: Final[tuple[Segment, ...]] = (
    ((-18.0, -88.0, 30.0), (-70.0, -80.0, 26.0), CLAVICLE_RADIUS_MM),
    ((-70.0, -80.0, 26.0), (-108.0, -58.0, 20.0), CLAVICLE_RADIUS_MM),
    ((18.0, -88.0, 30.0), (70.0, -80.0, 26.0), CLAVICLE_RADIUS_MM),
    ((70.0, -80.0, 26.0), (108.0, -58.0, 20.0), CLAVICLE_RADIUS_MM),
)
#: Lungs are looked for within this box (x, y, z ranges), mm.
LUNG_BOUNDS_MM: Final = ((-140.0, 140.0), (-100.0, 85.0), (APEX_Z_MM, 300.0))


def smoothstep(x: npt.ArrayLike, lo: float, hi: float) -> npt.NDArray[np.float64]:
    """0 below ``lo``, 1 above ``hi``, a smooth cubic between."""
    t = np.clip((np.asarray(x, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass
class Plane:
    """One axial plane of the anatomy before lesions, vessels in the lungs, blur and noise.

    Args:
        hu: ``(rows, cols)`` float32 HU.
        lung: ``(rows, cols)`` int8: 0 outside the lungs, :data:`RIGHT_LUNG` or :data:`LEFT_LUNG`.
        texture: ``(rows, cols)`` float32 smooth random field of unit standard deviation (fine scale),
            coherent across planes, for lesions to share.
    """

    hu: FloatArray
    lung: npt.NDArray[np.int8]
    texture: FloatArray


class Anatomy:
    """The phantom's body: build once (vessel trees are grown from ``rng``), then sample planes.

    Args:
        rng: the generator that shapes the vessel trees and the parenchyma's texture.
        side: pixels per image side.
    """

    def __init__(self, rng: np.random.Generator, side: int) -> None:
        self.grid = PlaneGrid.centred(side, PIXEL_SPACING_MM)
        xs = self.grid.xs.astype(np.float64)
        ys = self.grid.ys.astype(np.float64)
        X, Y = xs[None, :], ys[:, None]
        self.in_fov = (X**2 + Y**2) <= FOV_RADIUS_MM**2
        dy = Y - BODY_CENTRE_Y_MM
        self._dist = np.sqrt(X**2 + dy**2).astype(np.float32)
        self._from_back = np.arctan2(np.abs(X), dy)  # 0 at the back, pi at the front
        front_rows = (ys - BODY_CENTRE_Y_MM) < 0
        self._front_rows = front_rows
        self._abs_x = np.abs(xs)
        self._abs_dy = np.abs(ys - BODY_CENTRE_Y_MM)
        cos_side = np.where(self._dist > 0, np.abs(X) / np.maximum(self._dist, TINY), 0.0)
        fat_fb = np.where(dy < 0, FAT_FRONT_MM, FAT_BACK_MM)
        self._fat_mm = (fat_fb + (FAT_SIDE_MM - fat_fb) * cos_side).astype(np.float32)
        self._table = self._make_table(X, Y)
        self._rib_drop = (RIB_DROP_MM * self._from_back / np.pi).astype(np.float32)
        right_half = np.broadcast_to(MEDIASTINUM_CENTRE_MM[0] > X, self.grid.shape)
        self._side = np.where(right_half, RIGHT_LUNG, LEFT_LUNG).astype(np.int8)
        self._apex_top = self._apex_top_z(X, Y).astype(np.float32)
        self._diaphragm = self._diaphragm_z(X, Y).astype(np.float32)
        self._column = self._mediastinal_column(X, Y)
        self._heart_q = self._heart_plane_q(X, Y).astype(np.float32)
        self._spine_clear = self._spine_keepout(X, Y)
        self._vertebra = self._vertebra_parts(X, Y)
        self._abdomen_hu = self._abdomen(X, Y).astype(np.float32)
        self._thyroid = self._thyroid_q(X, Y).astype(np.float32)
        self.great_vessels = Tubes.of(list(GREAT_VESSELS))
        self.esophagus = Tubes.of(list(ESOPHAGUS))
        self.clavicles = Tubes.of(list(CLAVICLES))
        self._texture = _Texture(rng, self.grid)
        self.lung_points = self._sample_lung_points(rng)
        trees: list[Tubes] = []
        airways: list[Tubes] = []
        for side_index, label in enumerate((RIGHT_LUNG, LEFT_LUNG)):
            pts = self.lung_points[label]
            artery = grow_tree(pts[:TREE_POINTS], ARTERY_ROOTS_MM[side_index], ARTERY_ROOT_RADIUS_MM)
            vein = grow_tree(pts[TREE_POINTS : 2 * TREE_POINTS], VEIN_ROOTS_MM[side_index], VEIN_ROOT_RADIUS_MM)
            trees += [artery, vein]
            airways.append(
                artery.subset(artery.generations <= AIRWAY_GENERATIONS).moved(AIRWAY_OFFSET_MM, AIRWAY_RADIUS_SCALE)
            )
        self.lung_vessels = _concat(trees)
        root_r = np.add(ARTERY_ROOTS_MM[0], AIRWAY_OFFSET_MM)
        root_l = np.add(ARTERY_ROOTS_MM[1], AIRWAY_OFFSET_MM)
        central = Tubes.of(
            [
                (TRACHEA_TOP_MM, CARINA_MM, TRACHEA_RADIUS_MM),
                (CARINA_MM, tuple(root_r), MAIN_BRONCHUS_RADIUS_MM[0]),
                (CARINA_MM, tuple(root_l), MAIN_BRONCHUS_RADIUS_MM[1]),
            ]
        )
        self.airways = _concat([central, *airways])

    # --- fixed in-plane fields ----------------------------------------------------------------------
    @staticmethod
    def _make_table(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.int8]:
        """0 off the table, else :data:`TABLE_SHELL` or :data:`TABLE_CORE`."""
        top = TABLE_TOP_Y_MM - (TABLE_CURVE_RADIUS_MM - np.sqrt(np.maximum(TABLE_CURVE_RADIUS_MM**2 - x**2, 0)))
        below = y - top
        on = np.abs(x) <= TABLE_HALF_WIDTH_MM
        shell = on & (
            ((below >= 0) & (below < TABLE_SHELL_MM))
            | ((below >= TABLE_SHELL_MM + TABLE_CORE_MM) & (below < 2 * TABLE_SHELL_MM + TABLE_CORE_MM))
        )
        core = on & (below >= TABLE_SHELL_MM) & (below < TABLE_SHELL_MM + TABLE_CORE_MM)
        return np.select([shell, core], [TABLE_SHELL, TABLE_CORE], 0).astype(np.int8)

    @staticmethod
    def _apex_top_z(x: npt.ArrayLike, y: npt.ArrayLike) -> npt.NDArray[np.float64]:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        (xr, yr), (xl, yl) = APEX_CENTRES_MM
        right = APEX_Z_MM + ((x - xr) ** 2 + (y - yr) ** 2) / APEX_CURVATURE_MM
        left = APEX_Z_MM + ((x - xl) ** 2 + (y - yl) ** 2) / APEX_CURVATURE_MM
        return np.where(x < MEDIASTINUM_CENTRE_MM[0], right, left)

    @staticmethod
    def _diaphragm_z(x: npt.ArrayLike, y: npt.ArrayLike) -> npt.NDArray[np.float64]:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        domes = []
        for (cx, cy), top in zip(DOME_CENTRES_MM, DOME_TOP_Z_MM, strict=True):
            d2 = np.minimum((x - cx) ** 2 + (y - cy) ** 2, DOME_REACH_MM**2)
            domes.append(top + d2 / DOME_CURVATURE_MM + DOME_BACK_SLOPE * np.maximum(y - cy, 0))
        return np.minimum(domes[0], domes[1])

    @staticmethod
    def _mediastinal_column(x: npt.ArrayLike, y: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        (cx, cy), (hw, hh) = MEDIASTINUM_CENTRE_MM, MEDIASTINUM_HALF_AXES_MM
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        return ((x - cx) / hw) ** 2 + ((y - cy) / hh) ** 2 < 1

    @staticmethod
    def _heart_plane_q(x: npt.ArrayLike, y: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The in-plane part of the heart's ellipsoid equation (add the z part for a plane)."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        cx, cy, _ = HEART_CENTRE_MM
        a, b, _ = HEART_HALF_AXES_MM
        angle = np.deg2rad(HEART_ROTATION_DEG)
        u = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
        v = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
        return (u / a) ** 2 + (v / b) ** 2

    @staticmethod
    def _spine_keepout(x: npt.ArrayLike, y: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        reach = VERTEBRA_RADIUS_MM + SPINE_CLEARANCE_MM
        return (x**2 + (y - VERTEBRA_CENTRE_Y_MM) ** 2 < reach**2) | ((np.abs(x) < reach) & (y > VERTEBRA_CENTRE_Y_MM))

    @staticmethod
    def _vertebra_parts(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> dict[str, npt.NDArray[np.bool_]]:
        r_body = np.sqrt(x**2 + (y - VERTEBRA_CENTRE_Y_MM) ** 2)
        canal_y = VERTEBRA_CENTRE_Y_MM + VERTEBRA_RADIUS_MM + CANAL_RADIUS_MM + CANAL_GAP_MM
        r_canal = np.sqrt(x**2 + (y - canal_y) ** 2)
        arch = (r_canal >= CANAL_RADIUS_MM) & (r_canal < CANAL_RADIUS_MM + LAMINA_MM) & (y > canal_y - CANAL_RADIUS_MM)
        spinous = (
            (np.abs(x) < SPINOUS_HALF_WIDTH_MM)
            & (y >= canal_y + CANAL_RADIUS_MM)
            & (y < canal_y + CANAL_RADIUS_MM + SPINOUS_LENGTH_MM)
        )
        transverse = (
            (np.abs(x) >= TRANSVERSE_X_MM[0])
            & (np.abs(x) < TRANSVERSE_X_MM[1])
            & (np.abs(y - canal_y) < TRANSVERSE_HALF_HEIGHT_MM)
        )
        posterior = arch | spinous | transverse
        return {
            "body": r_body < VERTEBRA_RADIUS_MM,
            "body_cortex": (r_body < VERTEBRA_RADIUS_MM) & (r_body >= VERTEBRA_RADIUS_MM - CORTEX_MM),
            "canal": r_canal < CANAL_RADIUS_MM,
            "posterior": posterior,
        }

    @staticmethod
    def _abdomen(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = np.broadcast_arrays(x, y)
        hu = np.where(x < LIVER_MAX_X_MM, LIVER_HU, UPPER_ABDOMEN_HU)
        for (centre, axes), value in ((STOMACH_MM, STOMACH_HU), (SPLEEN_MM, SPLEEN_HU)):
            inside = ((x - centre[0]) / axes[0]) ** 2 + ((y - centre[1]) / axes[1]) ** 2 < 1
            hu = np.where(inside, value, hu)
        return hu

    @staticmethod
    def _thyroid_q(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        qs = [
            ((x - cx) / THYROID_HALF_AXES_MM[0]) ** 2 + ((y - cy) / THYROID_HALF_AXES_MM[1]) ** 2
            for cx, cy in THYROID_CENTRES_MM
        ]
        return np.minimum(qs[0], qs[1])

    # --- z profiles ---------------------------------------------------------------------------------
    @staticmethod
    def body_half_axes(z: float) -> tuple[float, float, float]:
        """Half-width, half-depth in front and behind of the body outline at ``z``, mm."""
        t = float(smoothstep(z, *BODY_WIDENING_Z_MM))
        neck, chest = BODY_NECK_HALF_AXES_MM, BODY_CHEST_HALF_AXES_MM
        return (
            neck[0] + t * (chest[0] - neck[0]),
            neck[1] + t * (chest[1] - neck[1]),
            neck[2] + t * (chest[2] - neck[2]),
        )

    @staticmethod
    def cage_half_axes(z: float | npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], ...]:
        """Half-width, half-depths (front, back) of the pleural cavity at ``z``, mm."""
        scale = CAGE_TOP_SCALE + (1 - CAGE_TOP_SCALE) * smoothstep(z, 0.0, CAGE_FULL_Z_MM)
        return tuple(scale * axis for axis in CAGE_HALF_AXES_MM)

    # --- lungs as a function of any points ----------------------------------------------------------
    def lung_label_points(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], z: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int8]:
        """For points ``(x, y, z)`` (same-shape arrays, mm): 0 outside the lungs, else the lung's label."""
        a, f, b = self.cage_half_axes(z)
        dy = y - BODY_CENTRE_Y_MM
        cage = (np.abs(x) / a) ** CAGE_EXPONENT + (np.abs(dy) / np.where(dy < 0, f, b)) ** CAGE_EXPONENT < 1
        _, _, hz = HEART_CENTRE_MM
        _, _, hc = HEART_HALF_AXES_MM
        heart = self._heart_plane_q(x, y) + ((z - hz) / hc) ** 2 < HEART_FAT_SCALE**2
        clear = np.ones(x.shape, dtype=bool)
        for i in range(len(self.great_vessels)):
            d = self.great_vessels.distance_to_points(i, x, y, z)
            clear &= d >= self.great_vessels.radii[i] + MEDIASTINAL_CLEARANCE_MM
        inside = (
            cage
            & (z > self._apex_top_z(x, y))
            & (z < self._diaphragm_z(x, y))
            & ~self._mediastinal_column(x, y)
            & ~heart
            & ~self._spine_keepout(x, y)
            & clear
        )
        side = np.where(x < MEDIASTINUM_CENTRE_MM[0], RIGHT_LUNG, LEFT_LUNG)
        return np.where(inside, side, 0).astype(np.int8)

    def _sample_lung_points(self, rng: np.random.Generator) -> dict[int, npt.NDArray[np.float64]]:
        """``2 * TREE_POINTS`` points uniformly inside each lung, mm."""
        want = 2 * TREE_POINTS
        found: dict[int, list[npt.NDArray[np.float64]]] = {RIGHT_LUNG: [], LEFT_LUNG: []}
        lo = np.array([b[0] for b in LUNG_BOUNDS_MM])
        hi = np.array([b[1] for b in LUNG_BOUNDS_MM])
        while min(sum(len(p) for p in found[k]) for k in found) < want:
            pts = lo + (hi - lo) * rng.random((SAMPLE_BATCH * want, 3))
            labels = self.lung_label_points(pts[:, 0], pts[:, 1], pts[:, 2])
            for k in found:
                found[k].append(pts[labels == k])
        return {k: np.concatenate(v)[:want] for k, v in found.items()}

    # --- one plane ----------------------------------------------------------------------------------
    def plane(self, z: float) -> Plane:
        """The anatomy in the axial plane at ``z`` (mm from the top of the scan), before lung vessels."""
        hu = np.full(self.grid.shape, AIR_HU, dtype=np.float32)
        hu[self._table == TABLE_SHELL] = TABLE_SHELL_HU
        hu[self._table == TABLE_CORE] = TABLE_CORE_HU

        # Body wall: skin, subcutaneous fat, muscle.
        a, f, b = self.body_half_axes(z)
        body_s = self._superellipse(a, f, b, BODY_EXPONENT)
        body = body_s < 1
        depth = self._dist * (1 / np.maximum(body_s, TINY) ** np.float32(1 / BODY_EXPONENT) - 1)
        hu[body] = MUSCLE_HU
        hu[body & (depth < self._fat_mm)] = FAT_HU
        hu[body & (depth < SKIN_MM)] = SKIN_HU

        # Pleural cavity and what fills it.
        ca, cf, cb = (float(v) for v in self.cage_half_axes(z))
        cage_s = self._superellipse(ca, cf, cb, CAGE_EXPONENT)
        cage = cage_s < 1
        rho_cage = np.maximum(cage_s, TINY) ** np.float32(1 / CAGE_EXPONENT)
        outside_cage_mm = (self._dist * (1 - 1 / rho_cage)).astype(np.float32)
        below = cage & (z > self._diaphragm)
        above = cage & ~below
        hu[above] = SOFT_TISSUE_HU
        hu[below] = self._abdomen_hu[below]
        hu[above & self._column] = MEDIASTINAL_FAT_HU
        if z < THYROID_Z_END_MM:
            hu[above & (self._thyroid < 1)] = THYROID_HU
        heart_q = self._heart_q + np.float32(((z - HEART_CENTRE_MM[2]) / HEART_HALF_AXES_MM[2]) ** 2)
        heart_zone = above & (heart_q < HEART_FAT_SCALE**2)
        hu[heart_zone] = MEDIASTINAL_FAT_HU
        hu[heart_zone & (heart_q < 1)] = HEART_HU

        vessel_d = self.great_vessels.distance_map(self.grid, z, MEDIASTINAL_CLEARANCE_MM + TUBE_EDGE_MM)
        self._blend(hu, np.clip(-vessel_d / TUBE_EDGE_MM + 0.5, 0, 1), BLOOD_HU)
        esophagus = np.zeros(self.grid.shape, np.float32)
        self.esophagus.draw(self.grid, z, esophagus, TUBE_EDGE_MM)
        self._blend(hu, esophagus, ESOPHAGUS_HU)

        lung_inside = (
            above
            & (z > self._apex_top)
            & ~self._column
            & (heart_q >= HEART_FAT_SCALE**2)
            & ~self._spine_clear
            & (vessel_d >= MEDIASTINAL_CLEARANCE_MM)
        )
        lung = np.where(lung_inside, self._side, 0).astype(np.int8)
        gravity = smoothstep(self.grid.ys, -CAGE_HALF_AXES_MM[1], CAGE_HALF_AXES_MM[2]).astype(np.float32)
        coarse, fine = self._texture.fields(z)
        parenchyma = (
            np.float32(LUNG_ANTERIOR_HU)
            + np.float32(LUNG_POSTERIOR_HU - LUNG_ANTERIOR_HU) * gravity[:, None]
            + np.float32(LUNG_COARSE_TEXTURE_HU) * coarse
            + np.float32(LUNG_FINE_TEXTURE_HU) * fine
        )
        hu[lung_inside] = parenchyma[lung_inside]

        self._draw_bones(hu, z, outside_cage_mm)
        lumen = np.zeros(self.grid.shape, np.float32)
        self.esophagus.draw(self.grid, z, lumen, TUBE_EDGE_MM, radius_scale=ESOPHAGUS_LUMEN_FRACTION)
        self._blend(hu, lumen, AIR_HU)
        return Plane(hu, lung, fine)

    def _superellipse(self, a: float, front: float, back: float, exponent: float) -> FloatArray:
        """``(|x|/a)^p + (|y - cy|/b)^p`` over the grid (1 on the outline), ``b`` the half-depth in front or
        behind."""
        cols = (self._abs_x / a) ** exponent
        rows = (self._abs_dy / np.where(self._front_rows, front, back)) ** exponent
        return (rows[:, None] + cols[None, :]).astype(np.float32)

    @staticmethod
    def _blend(hu: FloatArray, weight: FloatArray, value: float) -> None:
        """``hu += weight * (value - hu)`` where the weight is over 0."""
        on = weight > 0
        hu[on] += weight[on] * (np.float32(value) - hu[on])

    def _draw_bones(self, hu: FloatArray, z: float, outside_cage_mm: FloatArray) -> None:
        # Vertebra: body (or disc), canal, posterior elements.
        parts = self._vertebra
        in_disc = (z / VERTEBRA_PITCH_MM) % 1.0 < DISC_MM / VERTEBRA_PITCH_MM
        if in_disc:
            hu[parts["body"]] = DISC_HU
        else:
            hu[parts["body"]] = VERTEBRA_CANCELLOUS_HU
            hu[parts["body_cortex"]] = CORTICAL_BONE_HU
            hu[parts["posterior"]] = CORTICAL_BONE_HU
        hu[parts["canal"]] = CSF_HU

        # Ribs: in a band just outside the pleura, each rib falling from back to front.
        band = (outside_cage_mm > RIB_GAP_MM) & (outside_cage_mm < RIB_GAP_MM + RIB_THICKNESS_MM)
        band &= self._abs_x[None, :] > RIB_MIN_X_MM
        rows, cols = np.nonzero(band)
        along = (z - FIRST_RIB_Z_MM - self._rib_drop[rows, cols]) / RIB_PITCH_MM
        index = np.rint(along)
        dz = (along - index) * RIB_PITCH_MM
        dr = outside_cage_mm[rows, cols] - (RIB_GAP_MM + RIB_THICKNESS_MM / 2)
        s = (dr / (RIB_THICKNESS_MM / 2)) ** 2 + (dz / (RIB_HEIGHT_MM / 2)) ** 2
        angle = np.rad2deg(self._from_back[rows, cols])
        group = np.select([index < 7, index < 10], [0, 1], 2)
        limits = np.asarray(RIB_ANGLES_DEG)
        bone_end, cartilage_end = limits[group, 0], limits[group, 1]
        valid = (index >= 0) & (index < RIB_COUNT) & (s < 1)
        bone = valid & (angle < bone_end)
        cartilage = valid & (angle >= bone_end) & (angle < cartilage_end)
        marrow = s < RIB_MARROW_FRACTION**2
        hu[rows[bone], cols[bone]] = np.where(marrow[bone], RIB_MARROW_HU, CORTICAL_BONE_HU)
        hu[rows[cartilage], cols[cartilage]] = CARTILAGE_HU

        # Sternum, in front of the cavity at the midline.
        if STERNUM_Z_MM[0] <= z <= STERNUM_Z_MM[1]:
            half_width = STERNUM_HALF_WIDTHS_MM[0] if z < STERNUM_MANUBRIUM_END_Z_MM else STERNUM_HALF_WIDTHS_MM[1]
            _, cf, _ = (float(v) for v in self.cage_half_axes(z))
            centre_y = BODY_CENTRE_Y_MM - cf - STERNUM_OUTSIDE_CAGE_MM
            q = (self.grid.xs[None, :] / half_width) ** 2 + (
                (self.grid.ys[:, None] - centre_y) / STERNUM_HALF_THICKNESS_MM
            ) ** 2
            hu[q < 1] = CORTICAL_BONE_HU
            hu[q < RIB_MARROW_FRACTION**2] = RIB_MARROW_HU

        # Scapulae: thin plates on the back of the chest wall.
        if SCAPULA_Z_MM[0] <= z <= SCAPULA_Z_MM[1]:
            t = float(smoothstep(z, SCAPULA_Z_MM[0], SCAPULA_Z_MM[1]))
            lo = SCAPULA_TOP_ANGLES_DEG[0] + t * (SCAPULA_TIP_ANGLES_DEG[0] - SCAPULA_TOP_ANGLES_DEG[0])
            hi = SCAPULA_TOP_ANGLES_DEG[1] + t * (SCAPULA_TIP_ANGLES_DEG[1] - SCAPULA_TOP_ANGLES_DEG[1])
            angle_all = np.rad2deg(self._from_back)
            plate = (
                (outside_cage_mm > SCAPULA_GAP_MM)
                & (outside_cage_mm < SCAPULA_GAP_MM + SCAPULA_THICKNESS_MM)
                & (angle_all > lo)
                & (angle_all < hi)
            )
            hu[plate] = CORTICAL_BONE_HU

        clavicle = np.zeros(self.grid.shape, np.float32)
        self.clavicles.draw(self.grid, z, clavicle, TUBE_EDGE_MM)
        marrow_w = np.zeros(self.grid.shape, np.float32)
        self.clavicles.draw(self.grid, z, marrow_w, TUBE_EDGE_MM, radius_add_mm=-CORTEX_MM)
        self._blend(hu, clavicle, CORTICAL_BONE_HU)
        self._blend(hu, marrow_w, RIB_MARROW_HU)

    # --- tubes inside the lungs ---------------------------------------------------------------------
    def subplanes(self, z: float, thickness_mm: float) -> list[float]:
        """Heights at which to sample thin structures so that a slice of this thickness averages them."""
        count = int(min(MAX_SUBPLANES, max(1, np.ceil(thickness_mm / SUBPLANE_SPACING_MM))))
        return [z + thickness_mm * ((k + 0.5) / count - 0.5) for k in range(count)]

    def tube_weights(
        self, tubes: Tubes, zs: list[float], radius_scale: float = 1.0, full_contrast_mm: float = 0.0
    ) -> FloatArray:
        """Coverage of ``tubes`` averaged over the planes at ``zs``, float32 ``(rows, cols)`` in 0..1."""
        total = np.zeros(self.grid.shape, np.float32)
        for zk in zs:
            w = np.zeros(self.grid.shape, np.float32)
            tubes.draw(self.grid, zk, w, TUBE_EDGE_MM, radius_scale=radius_scale, full_contrast_mm=full_contrast_mm)
            total += w
        total /= np.float32(len(zs))
        return total

    def draw_lung_tubes(self, plane: Plane, zs: list[float]) -> None:
        """Add the vessels (inside the lungs) and the airways (everywhere) to ``plane.hu`` in place."""
        vessels = self.tube_weights(self.lung_vessels, zs, full_contrast_mm=FULL_CONTRAST_RADIUS_MM)
        vessels[plane.lung == 0] = 0
        self._blend(plane.hu, vessels, BLOOD_HU)
        walls = self.tube_weights(self.airways, zs)
        lumens = self.tube_weights(self.airways, zs, radius_scale=AIRWAY_LUMEN_FRACTION)
        self._blend(plane.hu, walls, AIRWAY_WALL_HU)
        self._blend(plane.hu, lumens, AIR_HU)


class _Texture:
    """Smooth random fields coherent in 3-D: Gaussian-weighted sums of random values on coarse grids.

    The in-plane weighting is a sparse product (a few nodes per pixel), which keeps it fast and free of
    multi-threaded BLAS, whose rounding could differ between machines.
    """

    def __init__(self, rng: np.random.Generator, grid: PlaneGrid) -> None:
        self._levels = []
        for step in (COARSE_TEXTURE_MM, FINE_TEXTURE_MM):
            margin = TEXTURE_MARGIN_NODES * step
            nodes_xy = np.arange(grid.xs[0] - margin, grid.xs[-1] + margin, step)
            nodes_z = np.arange(-margin, SCAN_LENGTH_MM + margin, step)
            values = rng.standard_normal((len(nodes_z), len(nodes_xy), len(nodes_xy))).astype(np.float32)
            wx = sparse.csr_array(_gaussian_weights(grid.xs.astype(np.float64), nodes_xy, step))
            self._levels.append((nodes_z, values, wx, step))

    def fields(self, z: float) -> tuple[FloatArray, FloatArray]:
        """The coarse and the fine field at ``z``, each of unit standard deviation."""
        out = []
        for nodes_z, values, wx, step in self._levels:
            wz = _gaussian_weights(np.array([z]), nodes_z, step)[0]
            near = np.flatnonzero(wz > 0)
            plane = (wz[near][:, None, None] * values[near]).sum(axis=0)
            out.append(np.ascontiguousarray((wx @ (wx @ plane).T).T, dtype=np.float32))
        return out[0], out[1]


def _gaussian_weights(points: npt.NDArray[np.float64], nodes: npt.NDArray[np.float64], step: float) -> FloatArray:
    """Weights ``(len(points), len(nodes))`` of a Gaussian kernel over grid nodes, each row of unit L2 norm.

    With unit-variance independent node values, each axis's weighting then keeps the variance at 1.
    """
    width = TEXTURE_KERNEL_WIDTH * step
    w = np.exp(-0.5 * ((points[:, None] - nodes[None, :]) / width) ** 2)
    w[w < TEXTURE_KERNEL_CUTOFF] = 0
    w /= np.sqrt((w**2).sum(axis=1, keepdims=True))
    return w.astype(np.float32)


def _concat(parts: list[Tubes]) -> Tubes:
    return Tubes(
        np.concatenate([p.starts for p in parts]),
        np.concatenate([p.ends for p in parts]),
        np.concatenate([p.radii for p in parts]),
        np.concatenate([p.generations for p in parts]),
    )
