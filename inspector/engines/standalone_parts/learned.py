"""Filters learned from the references at fit time (PCANet-style; numpy + OpenCV, no weights).

The principal components of the good images' mean-removed lightness patches are the patterns
their surface is made of (the grain of a tile, the marks of a machined or ground surface, a
weave). Each cell gets the log local energy of the filters' responses: a patch whose texture has
another pitch or another make than the references' lights up filters that the handcrafted
channels mix together. The log keeps a faint scratch on a smooth surface as visible as a strong
one on a rough surface.

Like the handcrafted channels these are rotation invariant (for quarter turns and mirroring,
and nearly so in between): the patches' covariance is averaged over the 8 quarter turns and
flips, so its principal components come in groups (single filters and pairs of equal variance)
that those moves map onto themselves, and the energy is pooled over each group. A part placed at
another angle, or a camera turned by 90 degrees, matches its references.

One bank is learned per level of a lightness pyramid (7 px at working scale, then 14, 28 and
56 px on the halved images, up to the context scales): the mid scales of a surface are its own
patterns too.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

FILTER_PX = 7  # filter side, working px
POOL_SIGMA = 2.0  # Gaussian pooling of the squared responses, working px
ENERGY_FLOOR = 0.01  # added before the log (L in [0, 1]): below it, sensor noise
PATCHES = 20000  # lightness patches sampled from all references together, per pyramid level


def pyramid(lum: np.ndarray, levels: int) -> list[np.ndarray]:
    """`levels` lightness images: `lum`, then each halved (Gaussian pyramid, at least 1 px)."""
    import cv2

    out = [lum]
    for _ in range(levels - 1):
        prev = out[-1]
        out.append(cv2.pyrDown(prev) if min(prev.shape) >= 2 else prev)
    return out


def sample_patches(lum: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """count mean-removed FILTER_PX^2 patches (count, FILTER_PX^2) float64 of a lightness array
    (mirrored at the borders, so a working tile smaller than a filter still gives patches)."""
    from numpy.lib.stride_tricks import sliding_window_view

    half = FILTER_PX // 2
    padded = np.pad(lum, half, mode="symmetric") if min(lum.shape) < FILTER_PX else lum
    windows = sliding_window_view(padded, (FILTER_PX, FILTER_PX))
    ys = rng.integers(0, windows.shape[0], count)
    xs = rng.integers(0, windows.shape[1], count)
    patches = windows[ys, xs].reshape(count, -1).astype(np.float64)
    return patches - patches.mean(1, keepdims=True)


def _dihedral_permutations() -> list[np.ndarray]:
    """Pixel index permutations of a FILTER_PX^2 patch for the 4 quarter turns, each unflipped
    and mirrored."""
    grid = np.arange(FILTER_PX * FILTER_PX).reshape(FILTER_PX, FILTER_PX)
    return [np.rot90(g, k).ravel() for g in (grid, grid[:, ::-1]) for k in range(4)]


def fit_filters(patch_sets: Sequence[np.ndarray], count: int) -> tuple[np.ndarray, np.ndarray]:
    """(filters (F, FILTER_PX, FILTER_PX) float32, group sizes (G,) int64): the leading principal
    components of the sampled patches' quarter-turn- and flip-averaged covariance, at least
    `count` of them (F > count when the last group is a pair). Orthonormal and zero-mean (the
    patches' mean was removed: no flat-shade filter); each group is a set of equal variance."""
    patches = np.concatenate(patch_sets, 0)
    cov = patches.T @ patches / max(len(patches), 1)
    cov = np.mean([cov[np.ix_(p, p)] for p in _dihedral_permutations()], 0)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1]
    groups, taken = [], 0
    while taken < min(count, len(order)):
        size = 1  # equal variances: one pair of the symmetry, kept together
        while taken + size < len(order) and \
                values[order[taken + size]] >= values[order[taken]] * (1 - 1e-6) - 1e-12:
            size += 1
        groups.append(size)
        taken += size
    filters = vectors[:, order[:taken]].T.reshape(-1, FILTER_PX, FILTER_PX)
    return np.ascontiguousarray(filters, dtype=np.float32), np.array(groups, np.int64)


def patches_per_image(n_images: int) -> int:
    return math.ceil(PATCHES / max(n_images, 1))


def filter_energy(lum: np.ndarray, filters: np.ndarray, groups: np.ndarray,
                  grid_hw: tuple[int, int]) -> np.ndarray:
    """(gh, gw, len(groups)) float32: log of each filter group's response energy, Gaussian-pooled
    and averaged over each grid cell. lum: float32 (h, w) working lightness in [0, 1]."""
    import cv2

    gh, gw = grid_hw
    cells = np.empty((gh, gw, len(groups)), np.float32)
    start = 0
    for j, size in enumerate(groups):  # plane by plane: interleaving channels costs more than it saves
        energy = None
        for f in filters[start:start + size]:
            r = cv2.filter2D(lum, cv2.CV_32F, f)
            energy = r * r if energy is None else cv2.add(energy, r * r)
        start += size
        energy = cv2.GaussianBlur(energy, (0, 0), POOL_SIGMA)
        np.maximum(energy, 0, out=energy)
        np.sqrt(energy, out=energy)
        energy += np.float32(ENERGY_FLOOR)
        np.log(energy, out=energy)
        cells[..., j] = cv2.resize(energy, (gw, gh), interpolation=cv2.INTER_AREA)
    return cells


def bank_energy(lum: np.ndarray, filters: np.ndarray, groups: np.ndarray, levels: np.ndarray,
                grid_hw: tuple[int, int]) -> np.ndarray:
    """filter_energy() of a multi-level bank: each group's filters run on the pyramid level
    `levels[group]` of `lum` (groups are ordered by level). (gh, gw, len(groups)) float32."""
    if len(groups) == 0:
        return np.zeros((*grid_hw, 0), np.float32)
    parts, start = [], 0
    for level, image in enumerate(pyramid(lum, int(levels.max()) + 1)):
        mine = groups[levels == level]
        count = int(mine.sum())
        parts.append(filter_energy(image, filters[start:start + count], mine, grid_hw))
        start += count
    return np.concatenate(parts, -1)
