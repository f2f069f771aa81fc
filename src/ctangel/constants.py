"""Every number the pipeline depends on, named once.

CT-Angel's own values (Sci Rep 2020; its README and notebook) are the defaults: the lung window
W1200/L-700, a lesion probability cut-off of 0.5 and a minimum lesion size of 25 pixels at 512x512.
"""

from __future__ import annotations

from typing import Final

# --- intensity -------------------------------------------------------------------------------------
#: CT-Angel's lung window, in Hounsfield units.
LUNG_WINDOW_WIDTH_HU: Final = 1200.0
LUNG_WINDOW_LEVEL_HU: Final = -700.0
#: Range of an 8-bit image, the form CT-Angel's JPEG slices take.
UINT8_MAX: Final = 255.0
#: HU of air and water, used by the classical lung masks and the phantom.
AIR_HU: Final = -1000.0
WATER_HU: Final = 0.0
#: Anything below this is outside the scanner's reconstruction circle (padding such as -2048 or -3024).
PADDING_HU_BELOW: Final = -1500.0

# --- geometry --------------------------------------------------------------------------------------
#: CT-Angel's slice size; area thresholds given "at 512x512" are scaled from this side length.
REFERENCE_SIDE_PX: Final = 512
#: Model input sides (square). The lung stage sees the whole slice, the lesion stage the lung crop.
LUNG_INPUT_SIDE: Final = 128
LESION_INPUT_SIDE: Final = 256
#: The lesion stage's crop: the lung box grown by this fraction of its longer side on every side.
LESION_CROP_MARGIN: Final = 0.08
#: ... and never smaller than this share of the slice's longer side (a lung tip at the apex is not magnified
#: beyond what the model saw in training).
LESION_CROP_MIN_FRACTION: Final = 0.25

# --- decisions -------------------------------------------------------------------------------------
#: CT-Angel's threshold: a pixel whose lesion probability is over 0.5 is lesion.
CT_ANGEL_LESION_PROBABILITY_THRESHOLD: Final = 0.5
#: ctangel's default: a pixel whose lesion probability is over this is lesion. Chosen with the default lesion
#: model (``lesion-unetpp-v2-x03``) on the clinical validation series (``bench/choose_checkpoint.py``: the
#: middle of the plateau of best Youden indices per slice, 0.55-0.65, with CT-Angel's 25-pixel minimum kept).
#: The whole network ``lesion-unetpp-v2`` was chosen with 0.35.
LESION_PROBABILITY_THRESHOLD: Final = 0.6
#: The threshold chosen for ``lesion-unetpp-v2`` (the whole network) on the same data.
LESION_V2_PROBABILITY_THRESHOLD: Final = 0.35
#: CT-Angel: a lesion must hold more than 25 pixels at 512x512.
MIN_LESION_AREA_PX_AT_512: Final = 25
#: A lung-mask pixel is lung when its probability is over this.
LUNG_PROBABILITY_THRESHOLD: Final = 0.5
#: A slice has a valid (lung) region when its predicted lung holds more than this many pixels at 512x512.
MIN_LUNG_AREA_PX_AT_512: Final = 400
#: Lung components smaller than this share of the largest one are dropped (speckle, bowel gas).
MIN_LUNG_COMPONENT_FRACTION: Final = 0.05
#: Volumes: lung components in 3-D smaller than this share of the largest are dropped (bowel and stomach gas,
#: air outside the body: in 3-D they are not connected to the lungs and airways).
MIN_LUNG_VOLUME_FRACTION: Final = 0.1
#: Volumes: a slice whose lung holds less than this share of the series' largest lung area has no lung (the
#: neck above the apex, where only the trachea is air; the lung's lowest tips under the diaphragm).
MIN_SLICE_LUNG_FRACTION: Final = 0.03
#: HU volumes: a lung-stage component whose interior has a median below this is pure air, not lung (bowel and
#: stomach gas, air outside the body, the trachea): aerated lung has a median of about -900..-700 HU.
AIR_COMPONENT_MEDIAN_HU: Final = -950.0
#: 8-bit images whose lungs lie one above the other (the lung mask's row profile dips in the middle deeper than
#: its column profile, by more than this) are taken as stored turned a quarter, as MedSeg's and Ma et al.'s
#: slices are; the lesion model sees them transposed. Measured: 90 of MedSeg's 98 slices as stored found
#: turned, 3 of 150 upright UCSD images (0 of 98 MedSeg slices upright).
TURNED_DIP_MARGIN: Final = 0.1
#: A lesion counts only where it lies within this distance of the lung mask (lesions on the pleura stay in).
LESION_LUNG_MARGIN_MM: Final = 5.0
#: Pixel spacing assumed where the input does not say (8-bit images): a typical chest CT at 512x512.
DEFAULT_PIXEL_SPACING_MM_AT_512: Final = 0.7
#: The valid region is the lung box grown by this many pixels at 512x512, so that dense lesions on the
#: pleura, which a lung segmentation may leave out, still count as inside it.
VALID_REGION_MARGIN_PX_AT_512: Final = 12
#: Patient rule: positive when at least this many slices are positive (all slices when a study has fewer) ...
#: Chosen by ``bench/patient_rule.py`` on training and validation patients only (Ma et al. volumes, UCSD
#: validation patients, LIDC-IDRI-0001): the best mean of the volumes' and the images' Youden indices over a
#: K x A grid; see ``bench/results/patient_rule.md`` (with lesion-unetpp-v2-x03 and the 0.6 threshold; with the
#: whole network and 0.35 it was K = 5, A = 3000). It rests on one non-COVID volume, LIDC-IDRI-0001, which has
#: 7 positive slices. Checked on the clinical validation series: P002 and cap002 positive, normal002 negative
#: (bench/results/accuracy.md).
PATIENT_MIN_POSITIVE_SLICES: Final = 8
#: ... and those slices hold at least this much lesion in all, in pixels at 512x512.
PATIENT_MIN_TOTAL_LESION_AREA_PX_AT_512: Final = 100

# --- labels ----------------------------------------------------------------------------------------
#: Label images (CT-Angel's train_labels) are white on black; JPEG artefacts are cut at this grey value.
LABEL_THRESHOLD: Final = 127
#: Values written to 8-bit mask images.
MASK_FOREGROUND: Final = 255
MASK_BACKGROUND: Final = 0

# --- run time --------------------------------------------------------------------------------------
#: Slices sent to a model at once: one per core on a 2-core machine (each of ONNX Runtime's single-threaded
#: sessions takes one). Measured (issue 10): no slower per slice than 8 or 16, and the sessions' memory arenas
#: stay small (peak RSS of a 300-slice analysis 0.65 GiB against 1.5 GiB with 8).
INFERENCE_BATCH_SIZE: Final = 2

# --- anatomy: lungs, lobes/zones, severity score (ctangel.anatomy) ----------------------------------
#: CT severity score per lobe (Pan et al., Radiology 2020; 295:715): 0 none, 1 < 5 %, 2 5-25 %, 3 26-50 %,
#: 4 51-75 %, 5 > 75 % involved. These are the upper bounds (percent, inclusive) of scores 1..4.
SEVERITY_SCORE_UPPER_PERCENT: Final = (5.0, 25.0, 50.0, 75.0)
#: The highest score of one lobe or zone.
SEVERITY_SCORE_MAX_PER_REGION: Final = 5
#: The lungs are separated on a grid whose longer in-plane side is at most this many cells (4x coarser
#: than 512x512: a 1000-slice study then holds 16 MB of cells, not 256 MB).
LUNG_SPLIT_GRID_SIDE: Final = 128
#: The two largest 3-D lung components are the two lungs when the smaller holds at least this share of the
#: larger; otherwise the joined lungs are eroded in-plane, one cell at a time, until they come apart.
LUNG_PAIR_MIN_RATIO: Final = 0.15
#: In-plane erosions tried (grid cells: 4 px each at 512x512) before falling back to the midline.
LUNG_SPLIT_MAX_EROSIONS: Final = 8
#: Zones: each lung cut by height (its own apex to base) into thirds.
ZONE_BOUNDS: Final = (1.0 / 3.0, 2.0 / 3.0)
#: Lobes estimated without fissures, in each lung's own box: ``t`` is the height from apex (0) to base (1),
#: ``u`` the depth from front (0) to back (1). The oblique fissure is taken as the plane through the back
#: of the lung at ``t = OBLIQUE_FISSURE_POSTERIOR_T`` (the level of T4-T5) and the front of the diaphragm
#: at ``u = OBLIQUE_FISSURE_ANTERIOR_U``, ``t = OBLIQUE_FISSURE_ANTERIOR_T`` (the 6th costochondral
#: junction; 1 puts it at the level of the lung's base); behind and below it lies the lower lobe. The
#: right horizontal fissure is taken as level at ``t = HORIZONTAL_FISSURE_T`` (4th costal cartilage); in
#: front of the oblique fissure and below it lies the middle lobe. Anatomical priors from textbook
#: geometry, not fitted to any data. Measured on three validation series (bench/results/anatomy.md) the
#: lower lobes come out small (7-17 % of both lungs each; anatomically nearer a quarter): an anterior end
#: above the base (``OBLIQUE_FISSURE_ANTERIOR_T`` below 1) would enlarge them; not yet measured.
OBLIQUE_FISSURE_POSTERIOR_T: Final = 0.3
OBLIQUE_FISSURE_ANTERIOR_U: Final = 0.25
OBLIQUE_FISSURE_ANTERIOR_T: Final = 1.0
HORIZONTAL_FISSURE_T: Final = 0.5
# --- input limits ----------------------------------------------------------------------------------
#: Largest image (rows x cols) any reader opens: a DICOM slice, a NIfTI slice, a PNG/JPEG in a folder, a
#: zip, an upload or a training folder. A chest CT slice is at most a few thousand pixels a side (512 or
#: 1024 usually); 4096 x 4096 leaves room for any of them and bounds one decoded slice to tens of MB.
#: ``--max-image-pixels`` or ``$CTANGEL_MAX_IMAGE_PIXELS`` change it.
DEFAULT_MAX_IMAGE_PIXELS: Final = 4096 * 4096
