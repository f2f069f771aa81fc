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
#: CT-Angel: a pixel whose lesion probability is over 0.5 is lesion.
LESION_PROBABILITY_THRESHOLD: Final = 0.5
#: CT-Angel: a lesion must hold more than 25 pixels at 512x512.
MIN_LESION_AREA_PX_AT_512: Final = 25
#: A lung-mask pixel is lung when its probability is over this.
LUNG_PROBABILITY_THRESHOLD: Final = 0.5
#: A slice has a valid (lung) region when its predicted lung holds more than this many pixels at 512x512.
MIN_LUNG_AREA_PX_AT_512: Final = 400
#: Lung components smaller than this share of the largest one are dropped (speckle, bowel gas).
MIN_LUNG_COMPONENT_FRACTION: Final = 0.05
#: The valid region is the lung box grown by this many pixels at 512x512, so that dense lesions on the
#: pleura, which a lung segmentation may leave out, still count as inside it.
VALID_REGION_MARGIN_PX_AT_512: Final = 12
#: Patient rule: positive when at least this many slices are positive (all slices when a study has fewer) ...
#: Chosen by ``bench/patient_rule.py`` on training and validation patients only (Ma et al. volumes, UCSD
#: validation patients, LIDC-IDRI-0001): the best mean of the volumes' and the images' Youden indices over a
#: K x A grid; see ``bench/results/patient_rule.md``.
PATIENT_MIN_POSITIVE_SLICES: Final = 8
#: ... and those slices hold at least this much lesion in all, in pixels at 512x512.
PATIENT_MIN_TOTAL_LESION_AREA_PX_AT_512: Final = 0

# --- labels ----------------------------------------------------------------------------------------
#: Label images (CT-Angel's train_labels) are white on black; JPEG artefacts are cut at this grey value.
LABEL_THRESHOLD: Final = 127
#: Values written to 8-bit mask images.
MASK_FOREGROUND: Final = 255
MASK_BACKGROUND: Final = 0

# --- run time --------------------------------------------------------------------------------------
#: Slices sent to a model at once.
INFERENCE_BATCH_SIZE: Final = 8

# --- input limits ----------------------------------------------------------------------------------
#: Largest image (rows x cols) any reader opens: a DICOM slice, a NIfTI slice, a PNG/JPEG in a folder, a
#: zip, an upload or a training folder. A chest CT slice is at most a few thousand pixels a side (512 or
#: 1024 usually); 4096 x 4096 leaves room for any of them and bounds one decoded slice to tens of MB.
#: ``--max-image-pixels`` or ``$CTANGEL_MAX_IMAGE_PIXELS`` change it.
DEFAULT_MAX_IMAGE_PIXELS: Final = 4096 * 4096
