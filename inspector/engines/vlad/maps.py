"""Patch-grid maps -> smooth pixel maps: bilinear upsampling and Gaussian smoothing (torch)."""

from __future__ import annotations

from typing import Any

import numpy as np


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> Any:
    """1-D normalised Gaussian (2r+1,), r = ceil(truncate * sigma), like scipy's gaussian_filter."""
    import torch

    radius = max(1, int(np.ceil(truncate * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def smooth_upsample(grid_maps: Any, size: int, sigma: float) -> Any:
    """(B, K, g, g) maps -> (B, K, size, size): bilinear upsampling, then a Gaussian blur of
    `sigma` pixels (reflect padding, separable). sigma <= 0 skips the blur."""
    import torch.nn.functional as F

    x = F.interpolate(grid_maps.float(), size=(size, size), mode="bilinear", align_corners=False)
    if sigma <= 0:
        return x
    b, k, h, w = x.shape
    kern = gaussian_kernel(sigma).to(x.device)
    r = kern.numel() // 2
    x = x.reshape(b * k, 1, h, w)
    pad_h, pad_w = min(r, h - 1), min(r, w - 1)
    x = F.pad(x, (pad_w, pad_w, 0, 0), mode="reflect") if pad_w else x
    kw = kern[r - pad_w:r + pad_w + 1]
    x = F.conv2d(x, (kw / kw.sum()).view(1, 1, 1, -1))
    x = F.pad(x, (0, 0, pad_h, pad_h), mode="reflect") if pad_h else x
    kh = kern[r - pad_h:r + pad_h + 1]
    x = F.conv2d(x, (kh / kh.sum()).view(1, 1, -1, 1))
    return x.reshape(b, k, h, w)


def resize_map(m: np.ndarray, height: int, width: int) -> np.ndarray:
    """A float32 (S, S) map resized bilinearly to (height, width)."""
    import cv2

    if m.shape == (height, width):
        return np.ascontiguousarray(m, dtype=np.float32)
    return cv2.resize(m.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
