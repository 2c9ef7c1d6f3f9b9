"""The Live tab's main view: the image that was scored, with its overlay, and the id of that image."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..image_view import ImageView
from ..overlay_data import OverlayData


class PartView(ImageView):
    """ImageView that remembers which scored frame / part it shows (`shown_frame_id`), so the
    verdict beside it can be checked to belong to the same image."""

    def __init__(self, parent=None, empty_text: str = "") -> None:  # noqa: ANN001
        super().__init__(parent, empty_text=empty_text)
        self.shown_frame_id = ""
        self.shown_image: Optional[np.ndarray] = None

    def show_scored(self, image: np.ndarray, overlay: Optional[OverlayData], frame_id: str) -> None:
        self.set_image(image, overlay)
        self.shown_image = image
        self.shown_frame_id = frame_id

    def clear_part(self) -> None:
        self.set_image(None)
        self.shown_image = None
        self.shown_frame_id = ""
