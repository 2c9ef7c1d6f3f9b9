"""Handcrafted multi-scale patch features of the weights-free engine (numpy + OpenCV, no weights).

An image is cut into a grid of overlapping tiles (one tile for images up to `tile_px`), each
tile is resized by the product's pixel scale (working px per image px), and every cell of a
grid with step `stride` (working pixels) gets a descriptor made of two groups of scales:

- local   (sigma 1, 2 px):   colour and fine structure of the cell itself,
- context (sigma 16, 32 px): where the cell sits in the object (inside, on an edge, in a gap).

The scales in between are described by filters learned from the references (`learned`), not by
these channels: on ground or textured surfaces the handcrafted mid scales (sigma 4, 8) mostly
measured the grain's own variation (see docs/BENCHMARKS.md, engine v5).

Each scale gives 9 channels: CIE Lab colour (L, a, b), scale-normalised gradient magnitude, the
two Hessian eigenvalues of L (ridges, valleys, blobs), the local standard deviation of L, and the
structure-tensor energy and anisotropy of the fine gradient (texture strength and directionality).
All of them are rotation invariant, so parts placed at any angle match their references.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

GROUP_SIGMAS: tuple[tuple[float, ...], ...] = ((1.0, 2.0), (16.0, 32.0))
CHANNELS_PER_SCALE = 9
GROUP_SIZES: tuple[int, ...] = tuple(len(s) * CHANNELS_PER_SCALE for s in GROUP_SIGMAS)
TILE_OVERLAP = 0.125  # share of a tile's side shared with its neighbour
MIN_GRID = 2  # cells per side, at least


@dataclass(frozen=True)
class TileLayout:
    """Where the tiles are and the working size they are scored at.

    boxes: (y0, x0, y1, x1) of each tile as fractions of the image height/width, so an image of
        another size but the same aspect ratio is cut at the same places (same field of view).
    work_hw: (height, width) in working pixels of every tile; multiples of `stride`.
    """

    boxes: tuple[tuple[float, float, float, float], ...]
    work_hw: tuple[int, int]
    stride: int

    @property
    def grid_hw(self) -> tuple[int, int]:
        return self.work_hw[0] // self.stride, self.work_hw[1] // self.stride

    def to_json(self) -> dict:
        return {"boxes": [list(b) for b in self.boxes], "work_hw": list(self.work_hw), "stride": self.stride}

    @classmethod
    def from_json(cls, data: dict) -> "TileLayout":
        return cls(tuple(tuple(float(v) for v in b) for b in data["boxes"]),
                   (int(data["work_hw"][0]), int(data["work_hw"][1])), int(data["stride"]))


def _spans(n: int) -> list[tuple[float, float]]:
    """n overlapping spans covering [0, 1] (fractions)."""
    length = 1.0 / (n - (n - 1) * TILE_OVERLAP)
    return [(i * length * (1 - TILE_OVERLAP), min(1.0, i * length * (1 - TILE_OVERLAP) + length))
            for i in range(n)]


def plan_tiles(height: int, width: int, tile_px: int, stride: int, resolution: Optional[int] = None,
               scale: Optional[float] = None) -> TileLayout:
    """Tile layout for images of `height` x `width` px.

    Sides longer than `tile_px` are cut into ceil(side / tile_px) overlapping tiles. Each tile is
    scaled to about `resolution`^2 working pixels (a pixel budget, so narrow images keep as much
    detail as square ones at the same cost), or by `scale` (working px per image px) when given.
    """
    rows, cols = max(1, math.ceil(height / tile_px)), max(1, math.ceil(width / tile_px))
    ys, xs = _spans(rows), _spans(cols)
    tile_h, tile_w = (ys[0][1] - ys[0][0]) * height, (xs[0][1] - xs[0][0]) * width
    if scale is None:
        long = max(tile_h, tile_w)  # the long side lands on a grid step, so a rotated view matches
        scale = max(MIN_GRID, round(long * resolution / math.sqrt(tile_h * tile_w) / stride)) * stride / long
    work_h = max(MIN_GRID, round(tile_h * scale / stride)) * stride
    work_w = max(MIN_GRID, round(tile_w * scale / stride)) * stride
    boxes = tuple((y0, x0, y1, x1) for y0, y1 in ys for x0, x1 in xs)
    return TileLayout(boxes, (work_h, work_w), stride)


def tile_pixels(box: tuple[float, float, float, float], height: int, width: int) -> tuple[int, int, int, int]:
    """Pixel box (y0, x0, y1, x1) of a fractional tile box in an image of the given size."""
    y0, x0 = int(round(box[0] * height)), int(round(box[1] * width))
    y1, x1 = max(y0 + 1, int(round(box[2] * height))), max(x0 + 1, int(round(box[3] * width)))
    return y0, x0, y1, x1


def _resize(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    shrinking = hw[0] * hw[1] < h * w
    return cv2.resize(image, (hw[1], hw[0]), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _derivatives(lum: np.ndarray, sigma: float) -> list[np.ndarray]:
    """Scale-normalised gradient magnitude and Hessian eigenvalues of a smoothed luminance."""
    import cv2

    gx = cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3) / 8
    dxx = cv2.Sobel(lum, cv2.CV_32F, 2, 0, ksize=3) / 4
    dyy = cv2.Sobel(lum, cv2.CV_32F, 0, 2, ksize=3) / 4
    dxy = cv2.Sobel(lum, cv2.CV_32F, 1, 1, ksize=3) / 4
    half_trace = (dxx + dyy) / 2
    radius = np.sqrt(((dxx - dyy) / 2) ** 2 + dxy ** 2)
    s2 = sigma * sigma
    return [np.sqrt(gx * gx + gy * gy) * sigma, (half_trace + radius) * s2, (half_trace - radius) * s2]


def _scale_channels(blurred: np.ndarray, moments: np.ndarray, sigma: float) -> np.ndarray:
    """The 9 channels of one scale.

    blurred: (h, w, >=3) Lab smoothed at `sigma`; moments: (h, w, 5) of [L, L^2, Jxx, Jyy, Jxy]
    smoothed at 2 * sigma (all in the pixel units of the array).
    """
    lum = np.ascontiguousarray(blurred[..., 0])
    std = np.sqrt(np.maximum(moments[..., 1] - moments[..., 0] ** 2, 0))
    jxx, jyy, jxy = moments[..., 2], moments[..., 3], moments[..., 4]
    energy = np.sqrt(np.maximum(jxx + jyy, 0))
    anisotropy = np.sqrt(np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2))
    chans = [blurred[..., 0], blurred[..., 1], blurred[..., 2], *_derivatives(lum, sigma),
             std, energy, anisotropy]
    return np.stack(chans, -1)


def image_lightness(image: np.ndarray) -> float:
    """Median CIE L (0-100) of a uint8 RGB image, on a thumbnail (the exposure of the shot)."""
    import cv2

    h, w = image.shape[:2]
    step = max(1, int(max(h, w) // 128))
    thumb = np.ascontiguousarray(image[::step, ::step]).astype(np.float32) * (1.0 / 255.0)
    return float(np.median(cv2.cvtColor(thumb, cv2.COLOR_RGB2Lab)[..., 0]))


def working_lab(tile: np.ndarray, work_hw: tuple[int, int], gain: float = 1.0) -> np.ndarray:
    """float32 (h, w, 3) CIE Lab / 100 (L in [0, 1], a/b about [-1, 1]) of a uint8 RGB tile of any
    size resized to `work_hw`.

    gain: exposure correction. L + 16, a and b are all proportional to the cube root of the light
    (CIE 1976, above the dark toe), so multiplying them by one factor undoes a brighter or darker
    shot without clipping.
    """
    import cv2

    # float before resizing: uint8 resampling rounds differently along rows and columns
    rgb = _resize(tile.astype(np.float32) * np.float32(1.0 / 255.0), work_hw)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    if gain != 1.0:
        lab[..., 0] += 16
        lab *= np.float32(gain)
        lab[..., 0] -= 16
    lab *= np.float32(0.01)
    return lab


def tile_features(tile: np.ndarray, work_hw: tuple[int, int], stride: int, gain: float = 1.0) -> np.ndarray:
    """Descriptors of one tile: float32 (gh, gw, sum(GROUP_SIZES)), gh = work_hw[0] // stride.

    tile: uint8 RGB (h, w, 3), any size; it is resized to `work_hw` first (see `working_lab`).
    """
    return lab_features(working_lab(tile, work_hw, gain), stride)


def lab_features(lab: np.ndarray, stride: int) -> np.ndarray:
    """tile_features() of a tile already brought to working Lab (`working_lab`)."""
    import cv2

    work_hw = lab.shape[:2]
    lum = np.ascontiguousarray(lab[..., 0])
    fine = cv2.GaussianBlur(lum, (0, 0), 1.0)
    gx = cv2.Sobel(fine, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(fine, cv2.CV_32F, 0, 1, ksize=3) / 8
    # Lab, then the moments pooled for local std and the structure tensor
    base = np.concatenate([lab, np.stack([lum, lum * lum, gx * gx, gy * gy, gx * gy], -1)], -1)
    gh, gw = work_hw[0] // stride, work_hw[1] // stride
    grid = cv2.resize(base, (gw, gh), interpolation=cv2.INTER_AREA)
    parts = []
    for group, sigmas in enumerate(GROUP_SIGMAS):
        for sigma in sigmas:
            if group == 0:  # local scales need full working resolution, then are pooled to the grid
                chans = _scale_channels(cv2.GaussianBlur(lab, (0, 0), sigma),
                                        cv2.GaussianBlur(base[..., 3:], (0, 0), 2 * sigma), sigma)
                parts.append(cv2.resize(chans, (gw, gh), interpolation=cv2.INTER_AREA))
            else:  # coarser scales are computed on the pooled grid (sigma in grid cells)
                s = sigma / stride
                parts.append(_scale_channels(cv2.GaussianBlur(grid, (0, 0), s),
                                             cv2.GaussianBlur(grid, (0, 0), 2 * s)[..., 3:], s))
    return np.ascontiguousarray(np.concatenate(parts, -1), dtype=np.float32)


def image_tiles(image: np.ndarray, layout: TileLayout) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """(pixel box, tile pixels) of each tile of `image` (uint8 RGB (H, W, 3))."""
    h, w = image.shape[:2]
    out = []
    for box in layout.boxes:
        y0, x0, y1, x1 = tile_pixels(box, h, w)
        out.append(((y0, x0, y1, x1), image[y0:y1, x0:x1]))
    return out


def cell_positions(box: tuple[float, float, float, float], grid_hw: tuple[int, int]) -> np.ndarray:
    """(gh, gw, 2): each cell's centre (y, x) as fractions of the whole image's height and width."""
    gh, gw = grid_hw
    ys = box[0] + (np.arange(gh) + 0.5) / gh * (box[2] - box[0])
    xs = box[1] + (np.arange(gw) + 0.5) / gw * (box[3] - box[1])
    return np.stack(np.meshgrid(ys, xs, indexing="ij"), -1).astype(np.float32)
