"""numpy uint8 images <-> QImage, without copies where Qt allows it."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

_FORMATS = {1: QImage.Format.Format_Grayscale8, 3: QImage.Format.Format_RGB888,
            4: QImage.Format.Format_RGBA8888}


def qimage_view(array: np.ndarray) -> QImage:
    """A QImage over the array's memory (no copy). Keep `array` alive while the QImage is used."""
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8 image, got {array.dtype}")
    if not array.flags["C_CONTIGUOUS"]:
        array = np.ascontiguousarray(array)
    h, w = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    return QImage(array.data, w, h, array.strides[0], _FORMATS[channels])


def qimage_copy(array: np.ndarray) -> QImage:
    """A QImage owning its pixels (safe to hand from a worker to the GUI thread)."""
    return qimage_view(np.ascontiguousarray(array)).copy()


def thumbnail_array(image: np.ndarray, size: int) -> np.ndarray:
    """Downscale so the longer side is at most `size` px (area interpolation)."""
    import cv2

    h, w = image.shape[:2]
    scale = size / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
