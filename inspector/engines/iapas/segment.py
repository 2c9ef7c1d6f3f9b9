"""SAM masks for the kept boxes: one image embedding per image, boxes decoded in batches."""

from __future__ import annotations

import contextlib
from typing import Any, Optional, Sequence

import numpy as np


class BoxSegmenter:
    """segment-anything's SamPredictor with box prompts. Not thread-safe (one image at a time
    per predictor); the model serialises calls with its own lock."""

    def __init__(self, sam: Any, sam_batch: int = 16, autocast: Optional[Any] = None) -> None:
        from segment_anything import SamPredictor

        self.predictor = SamPredictor(sam)
        self.sam_batch = sam_batch
        self._autocast = autocast

    def _ctx(self):
        return self._autocast() if self._autocast else contextlib.nullcontext()

    def embed(self, image: np.ndarray) -> None:
        """Compute the image embedding (the expensive part) once for all of its boxes."""
        import torch

        with torch.no_grad(), self._ctx():
            self.predictor.set_image(np.ascontiguousarray(image), image_format="RGB")

    def masks(self, image: np.ndarray, boxes: Sequence[Sequence[float]]) -> list[np.ndarray]:
        """Bool (H, W) mask per box, cut to its box (a box prompt outlines what is inside it).
        `embed(image)` must have been called for this image."""
        import torch

        h, w = image.shape[:2]
        out: list[np.ndarray] = []
        device = self.predictor.device
        for i in range(0, len(boxes), self.sam_batch):
            chunk = torch.tensor([list(b) for b in boxes[i:i + self.sam_batch]], dtype=torch.float32,
                                 device=device)
            prompt = self.predictor.transform.apply_boxes_torch(chunk, (h, w))
            with torch.no_grad(), self._ctx():
                masks, _, _ = self.predictor.predict_torch(point_coords=None, point_labels=None,
                                                           boxes=prompt, multimask_output=False)
            masks = masks[:, 0].cpu().numpy()
            for m, b in zip(masks, chunk.cpu().numpy()):
                x0, y0 = int(np.floor(b[0])), int(np.floor(b[1]))
                x1, y1 = int(np.ceil(b[2])), int(np.ceil(b[3]))
                cut = np.zeros((h, w), bool)
                cut[y0:y1, x0:x1] = m[y0:y1, x0:x1]
                out.append(cut)
        return out


def weighted_map(masks: Sequence[np.ndarray], confidences: Sequence[float],
                 shape: tuple[int, int]) -> np.ndarray:
    """map = sum(mask_k * conf_k) / number of masks covering the pixel (overlaps averaged)."""
    acc = np.zeros(shape, np.float32)
    cnt = np.zeros(shape, np.float32)
    for m, c in zip(masks, confidences):
        acc[m] += float(c)
        cnt[m] += 1.0
    return np.divide(acc, cnt, out=np.zeros_like(acc), where=cnt > 0)
