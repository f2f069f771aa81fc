"""Real COVID-19 lesion shapes (radiologists' masks) drawn into real HU lungs at realistic densities.

MosMedData's 50 lesion masks (``../shared/data/mosmed_lesion_masks``) hold the shapes, sizes, counts and
positions of real COVID-19 lesions but no CT. :func:`build_shape_bank` collects every mask slice that holds a
lesion, in display orientation, with the lung envelope of the whole set (where any patient's lesion lies, per
side): that envelope stands in for the lungs the masks were drawn on. :func:`draw_real_lesions` maps one mask
slice, side by side, from that envelope onto a host slice's own lungs (each lung's bounding box), keeps what
falls inside the host's lung mask and gives each lesion one of the attenuation patterns of COVID-19:

* faint ground glass: the parenchyma rises by about 100-250 HU (vessels keep their values and show through);
* ground glass: a rise of 250-450 HU;
* crazy paving: ground glass with thickened interlobular septa, a polygonal net of lines a few mm apart;
* consolidation: soft-tissue density (-60..+40 HU) with air bronchograms (airways stay air).

The bank is a derivative of the MosMed data: it is written under ``build/`` by ``ctangel prepare`` and never
committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi

from ctangel._types import BoolMask
from ctangel.constants import REFERENCE_SIDE_PX
from ctangel.errors import InputError
from ctangel.training.lesion_insertion import smooth_noise

#: Lower and upper percentile of the pooled lesion pixels' coordinates that bound the lung envelope.
ENVELOPE_PERCENTILES = (0.5, 99.5)
#: A host side with fewer lung pixels than this gets no lesion.
MIN_SIDE_LUNG_PX = 200


@dataclass(frozen=True)
class Pattern:
    """The attenuation patterns and their chances (they need not sum to 1; they are normalised)."""

    faint_ggo: float = 0.40
    ggo: float = 0.20
    crazy_paving: float = 0.15
    consolidation: float = 0.25


@dataclass(frozen=True)
class RealLesionConfig:
    """How real lesion shapes are drawn (HU; sizes in pixels at 512x512).

    Args:
        pattern: chances of each attenuation pattern, per lesion.
        faint_rise_hu: rise of faint ground glass over the parenchyma.
        ggo_rise_hu: rise of denser ground glass.
        septa_rise_hu: extra rise on the septal lines of crazy paving.
        septa_spacing_px: spacing of those lines.
        consolidation_hu: mean density of consolidation.
        texture_hu: standard deviation of the smooth density texture.
        rim_px: width of the soft rim (Gaussian sigma).
        jitter: random scale (share) and shift (share of the lung box) of the mapping.
        parenchyma_below_hu: ground glass raises only pixels below this (vessels stay as they are).
        bronchogram_below_hu: consolidation keeps airways (at least 3 px wide) below this as air.
    """

    pattern: Pattern = Pattern()
    faint_rise_hu: tuple[float, float] = (100.0, 250.0)
    ggo_rise_hu: tuple[float, float] = (250.0, 450.0)
    septa_rise_hu: tuple[float, float] = (150.0, 350.0)
    septa_spacing_px: tuple[float, float] = (7.0, 12.0)
    consolidation_hu: tuple[float, float] = (-60.0, 40.0)
    texture_hu: float = 30.0
    rim_px: float = 1.5
    jitter: float = 0.08
    parenchyma_below_hu: float = -300.0
    bronchogram_below_hu: float = -950.0


@dataclass(frozen=True)
class ShapeBank:
    """Lesion mask slices in display orientation and the envelope they were drawn in.

    Args:
        masks: ``(n, 512, 512)`` bool, each slice holding at least one lesion.
        envelopes: ``(2, 4)`` float, the envelope box ``(x0, y0, x1, y1)`` of the image's left half (patient's
            right lung) and right half (patient's left lung), pixels.
    """

    masks: npt.NDArray[np.bool_]
    envelopes: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def save(self, path: str | Path) -> Path:
        """Write the bank as a compressed ``.npz`` (bits packed)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path, packed=np.packbits(self.masks, axis=-1), shape=np.array(self.masks.shape), envelopes=self.envelopes
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> ShapeBank:
        """Read a bank written by :meth:`save`.

        Raises:
            InputError: the file is missing or is not a shape bank.
        """
        try:
            with np.load(Path(path)) as z:
                shape = tuple(int(v) for v in z["shape"])
                masks = np.unpackbits(z["packed"], axis=-1, count=shape[-1]).astype(bool).reshape(shape)
                return cls(masks, np.asarray(z["envelopes"], dtype=np.float64))
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(path, f"not a lesion shape bank ({exc}); run `ctangel prepare` to write it") from exc


def mosmed_display_slices(path: Path) -> npt.NDArray[np.bool_]:
    """One MosMed mask volume as ``(slices, rows, cols)`` in display orientation, head to feet.

    Display orientation: the patient's front at the top, the patient's left on the image's right.

    Raises:
        InputError: the file cannot be read as a 3-D mask.
    """
    import nibabel as nib

    try:
        img: Any = nib.load(str(path))
        data = np.asarray(img.dataobj) > 0
        codes = nib.aff2axcodes(img.affine)
    except Exception as exc:  # nibabel raises many kinds on damaged files
        raise InputError(path, f"cannot read the lesion mask: {exc}") from exc
    if data.ndim != 3:
        raise InputError(path, f"a lesion mask must be 3-D, got {data.ndim}-D")
    # to (L->R axis = patient's left, A axis, S axis) = RAS+ with the first axis toward the left
    ornt = nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt(codes), nib.orientations.axcodes2ornt(("L", "A", "S"))
    )
    data = nib.orientations.apply_orientation(data, ornt)
    # display: rows from anterior (top) to posterior, columns toward the patient's left; slices head to feet
    return np.ascontiguousarray(np.transpose(data[:, ::-1, ::-1], (2, 1, 0)))


def build_shape_bank(mosmed_dir: Path) -> ShapeBank:
    """Every lesion-holding mask slice of the MosMed masks in ``mosmed_dir``, with their lung envelope.

    Raises:
        InputError: the folder holds no mask with a lesion of 512x512.
    """
    slices: list[npt.NDArray[np.bool_]] = []
    for path in sorted(Path(mosmed_dir).glob("*_mask.nii*")):
        vol = mosmed_display_slices(path)
        if vol.shape[1:] != (REFERENCE_SIDE_PX, REFERENCE_SIDE_PX):
            continue
        slices.extend(s for s in vol if s.any())
    if not slices:
        raise InputError(mosmed_dir, "holds no 512x512 lesion mask with a lesion (*_mask.nii.gz)")
    masks = np.stack(slices)
    union = masks.sum(axis=0)
    half = REFERENCE_SIDE_PX // 2
    envelopes = np.zeros((2, 4))
    for k, cols in enumerate((slice(0, half), slice(half, REFERENCE_SIDE_PX))):
        rr, cc = np.nonzero(union[:, cols])
        cc = cc + cols.start
        lo, hi = ENVELOPE_PERCENTILES
        envelopes[k] = (
            np.percentile(cc, lo),
            np.percentile(rr, lo),
            np.percentile(cc, hi) + 1,
            np.percentile(rr, hi) + 1,
        )
    return ShapeBank(masks, envelopes)


@lru_cache(maxsize=2)
def cached_bank(path: str) -> ShapeBank:
    """The bank at ``path``, read once per process."""
    return ShapeBank.load(path)


def _septal_lines(shape: tuple[int, int], spacing: float, rng: np.random.Generator) -> BoolMask:
    """A polygonal net of one-pixel lines about ``spacing`` pixels apart (the borders of Voronoi cells)."""
    n = max(4, int(shape[0] * shape[1] / spacing**2))
    seeds = np.zeros(shape, dtype=np.int32)
    seeds[rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)] = np.arange(1, n + 1)
    _, (ri, ci) = ndi.distance_transform_edt(seeds == 0, return_indices=True)
    cells = seeds[ri, ci]
    return np.asarray(ndi.maximum_filter(cells, size=2) != ndi.minimum_filter(cells, size=2))


def _map_side(
    source: npt.NDArray[np.float32],
    src_box: npt.NDArray[np.float64],
    dst_box: tuple[float, float, float, float],
    shape: tuple[int, int],
) -> npt.NDArray[np.float32]:
    """Resample ``source`` so that ``src_box`` lands on ``dst_box`` (boxes ``x0, y0, x1, y1``) in ``shape``."""
    sx = (src_box[2] - src_box[0]) / max(dst_box[2] - dst_box[0], 1.0)
    sy = (src_box[3] - src_box[1]) / max(dst_box[3] - dst_box[1], 1.0)
    offset = (src_box[1] - dst_box[1] * sy, src_box[0] - dst_box[0] * sx)
    return ndi.affine_transform(source, (sy, sx), offset=offset, output_shape=shape, order=1, mode="constant")


def map_shapes(
    mask: npt.NDArray[np.bool_],
    envelopes: npt.NDArray[np.float64],
    lung: BoolMask,
    rng: np.random.Generator,
    jitter: float = 0.0,
) -> npt.NDArray[np.float32]:
    """A bank mask slice mapped onto ``lung`` side by side: soft (0..1) lesion strength in the lung's pixels."""
    out = np.zeros(lung.shape, dtype=np.float32)
    rows, cols = np.nonzero(lung)
    if rows.size == 0:
        return out
    split = (cols.min() + cols.max() + 1) / 2
    half = mask.shape[1] // 2
    for k, side_cols in enumerate((cols < split, cols >= split)):
        if side_cols.sum() < MIN_SIDE_LUNG_PX:
            continue
        r, c = rows[side_cols], cols[side_cols]
        box = [float(c.min()), float(r.min()), float(c.max() + 1), float(r.max() + 1)]
        if jitter > 0:
            w, h = box[2] - box[0], box[3] - box[1]
            s = 1.0 + rng.uniform(-jitter, jitter)
            dx, dy = rng.uniform(-jitter, jitter) * w, rng.uniform(-jitter, jitter) * h
            cx, cy = (box[0] + box[2]) / 2 + dx, (box[1] + box[3]) / 2 + dy
            box = [cx - s * w / 2, cy - s * h / 2, cx + s * w / 2, cy + s * h / 2]
        src = np.zeros(mask.shape, dtype=np.float32)
        cut = slice(0, half) if k == 0 else slice(half, mask.shape[1])
        src[:, cut] = mask[:, cut]
        out = np.maximum(out, _map_side(src, envelopes[k], (box[0], box[1], box[2], box[3]), lung.shape))
    return out * lung


def draw_real_lesions(
    hu: npt.NDArray[np.floating], lung: BoolMask, bank: ShapeBank, cfg: RealLesionConfig, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float32], BoolMask]:
    """Draw one randomly chosen bank slice's lesions into the lung of an HU slice.

    Args:
        hu: the slice in HU, display orientation.
        lung: its lung mask (lesions are kept only inside it).
        bank: the lesion shapes.
        cfg: densities and patterns.
        rng: the random generator.

    Returns:
        the new slice (float32 HU) and the lesion label (empty when the shape fell outside the lung).
    """
    out = np.array(hu, dtype=np.float32)
    mask = bank.masks[int(rng.integers(0, len(bank)))]
    if rng.random() < 0.5:  # a lesion pattern seen from the other side
        mask, envelopes = mask[:, ::-1], bank.envelopes[::-1].copy()
        envelopes[:, [0, 2]] = mask.shape[1] - envelopes[:, [2, 0]]
    else:
        envelopes = bank.envelopes
    hard = map_shapes(mask, envelopes, lung, rng, cfg.jitter) >= 0.5
    label = np.zeros(out.shape, dtype=bool)
    if not hard.any():
        return out, label
    scale = max(out.shape) / REFERENCE_SIDE_PX
    strength = ndi.gaussian_filter(hard.astype(np.float32), cfg.rim_px * scale) * lung
    strength = np.clip(strength * 2.0, 0.0, 1.0)  # full strength inside, a soft rim at the edge
    components, _ = ndi.label(hard)
    grown = ndi.grey_dilation(components, size=int(2 * np.ceil(2 * cfg.rim_px * scale) + 1))
    p = np.array([cfg.pattern.faint_ggo, cfg.pattern.ggo, cfg.pattern.crazy_paving, cfg.pattern.consolidation])
    for i, box in enumerate(ndi.find_objects(grown), start=1):
        if box is None:
            continue
        region = grown[box] == i
        patch = out[box]
        s = strength[box] * region
        texture = cfg.texture_hu * smooth_noise(patch.shape, 2.0 * scale, rng)
        kind = int(rng.choice(4, p=p / p.sum()))
        if kind == 3:
            target = rng.uniform(*cfg.consolidation_hu) + texture
            air = ndi.binary_opening(patch < cfg.bronchogram_below_hu, structure=np.ones((3, 3), bool))
            out[box] = np.where(air, patch, patch + s * (target - patch))
            continue
        rise_range = cfg.faint_rise_hu if kind == 0 else cfg.ggo_rise_hu
        rise = rng.uniform(*rise_range) * (0.8 + 0.2 * smooth_noise(patch.shape, 8.0 * scale, rng)) + texture
        if kind == 2:
            lines = _septal_lines(patch.shape, rng.uniform(*cfg.septa_spacing_px) * scale, rng)
            rise = rise + lines * rng.uniform(*cfg.septa_rise_hu)
        out[box] = np.where((patch < cfg.parenchyma_below_hu) & (s > 0), patch + s * rise, patch)
    label |= hard
    return out.astype(np.float32), label
