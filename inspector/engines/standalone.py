"""The weights-free engine: learns a product from its good images alone (the embedded default).

No pretrained weights of any kind. Each image is described on a grid of patches by handcrafted,
rotation-invariant features at local and context scales (colour, edges, ridges, texture; see
`standalone_parts.features`) and by filters learned from the references at the scales between.
Fitting keeps a coreset of the good patches; scoring measures each patch's nearest-neighbour
distance to it (`standalone_parts.memory`), smooths the grid into a map and takes its maximum as
the image score. Large images are cut into overlapping tiles so that small defects keep enough
pixels. Towards the image's edges the map is weighted down (to 0.75 at the edge, `border_weight`):
what a crop's edge holds varies from image to image more than its interior, so good edges score
higher than good interiors; a clear defect at the edge still stands out.

Images of any size are worked at the references' pixel scale (a working-pixel budget per tile of
the median reference), never stretched to one size: a larger crop is more surface, not a zoom.
Each shot's lightness is brought to the references' median (exposure drift of the lighting).
When the references are aligned (parts in a fixture: the fit finds that good patches match at
their own place), each cell's place joins its descriptor, so a component that looks normal but
sits in the wrong place is found; textures and parts placed anywhere are matched anywhere.

Banks of filters are learned from the references themselves at fit time (the principal
components of their lightness patches at 7, 14, 28 and 56 px, `standalone_parts.learned`); their
local energy joins the handcrafted local features, describes the scales between local and
context, and picks out a surface whose texture runs another way or at another pitch.

Raw scores only: the shared detector layer normalises maps and sets thresholds.
"""

from __future__ import annotations

import io
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..core.errors import InspectorError
from ..core.image_io import atomic_write_bytes
from ..core.progress import CancelFn, ProgressFn, check_cancel, report
from .base import ScoreModel
from .standalone_parts.features import (CHANNELS_PER_SCALE, cell_positions, GROUP_SIGMAS, GROUP_SIZES, TileLayout, image_lightness, image_tiles, plan_tiles,
                                        lab_features, working_lab)
from .standalone_parts.learned import FILTER_PX, bank_energy, fit_filters, patches_per_image, pyramid, sample_patches
from .standalone_parts.memory import BankSearch, PatchMemory, match_shift, torch_threads

STATE_JSON = "standalone.json"
STATE_ARRAYS = "standalone.npz"

# setting: (default, type, min, max)
SETTINGS: dict[str, tuple[Any, type, float, float]] = {
    "resolution": (256, int, 64, 2048),  # working long side of a tile, px
    "tile_px": (1024, int, 128, 65536),  # input sides longer than this are cut into tiles
    "stride": (4, int, 2, 16),  # feature grid step, working px
    "memory_size": (4096, int, 64, 1 << 20),  # patches kept in the memory bank
    "max_candidates": (65536, int, 256, 1 << 24),  # patches sampled from the references
    "context_weight": (2.0, float, 0.0, 100.0),  # weight of the context scales vs local (1)
    "local_weight": (1.0, float, 0.0, 100.0),  # weight of the local-only distance in the sum
    # filters learned from the references' lightness patches (PCA, at least this many per level
    # of a lightness pyramid of `learned_levels`; 0: handcrafted features only) whose log energy
    # joins the local part of the descriptor, and that group's weight
    "learned_filters": (16, int, 0, FILTER_PX * FILTER_PX - 1),
    "learned_levels": (4, int, 1, 6),
    "learned_weight": (0.75, float, 0.0, 100.0),
    "map_sigma": (4.0, float, 0.0, 64.0),  # Gaussian smoothing of the map, working px
    # the map's weight at the image's edge, rising linearly to 1 at BORDER_MARGIN inside (1: off).
    # A crop's edge (where a part or tile ends, a chamfer, a streak) differs from image to image
    # more than its interior: good edges score about 1.2-1.35x good interiors.
    "border_weight": (0.75, float, 0.0, 1.0),
    # 1: each shot's Lab is scaled so its median lightness matches the references' (exposure
    # drift of a line's lighting); 0: absolute brightness (a product whose defect is overall shade)
    "normalise_exposure": (1, int, 0, 1),
    # weight of a cell's place in the image (fractions of its sides) in the joint distance; used
    # only when the references are aligned (a fixture: good patches find their match in place)
    "position_weight": (4.0, float, 0.0, 100.0),
    "seed": (0, int, 0, 2 ** 31 - 1),
    # torch threads while fitting/scoring (0 = torch's default). One thread by default: on a
    # small CPU shared with a GUI and a camera, 2 threads gain ~10 ms when idle but lose several
    # times that whenever another process wants the CPU (OpenMP threads wait for each other).
    "threads": (1, int, 0, 256),
}
COARSE_STEPS = 20  # progress steps given to building the memory bank
MAX_GAIN = 2.0  # exposure correction at most (Lab factor; about 8x in light)
ALIGNED_SHIFT = 0.1  # median shift (share of the image side) of matches up to which refs are aligned
ALIGN_QUERIES, ALIGN_BANK, ALIGN_REFS = 256, 16384, 8  # the alignment test's sample sizes
ASPECT_TOLERANCE = 0.05  # |log aspect ratio change| up to which an image counts as the same view
BORDER_MARGIN = max(GROUP_SIGMAS[-1])  # working px from the image's edge over which border_weight ramps to 1


def engine_params(settings: dict[str, Any]) -> dict[str, Any]:
    """This engine's settings with defaults filled in and checked; other keys are ignored
    (the product's settings also carry keys for other engines, e.g. `object_name`)."""
    params = {}
    for key, (default, kind, lo, hi) in SETTINGS.items():
        value = settings.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (kind is int and float(value) != int(value)):
            expected = "an integer" if kind is int else "a number"
            raise InspectorError(f"standalone setting '{key}' must be {expected}, not {value!r}")
        value = kind(value)
        if not lo <= value <= hi:
            raise InspectorError(f"standalone setting '{key}' = {value} is out of range [{lo}, {hi}]")
        params[key] = value
    return params


def _as_rgb(image: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise InspectorError(f"{what}: expected a uint8 image, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 8:
        raise InspectorError(f"{what}: expected an RGB image (H, W, 3) of at least 8 px a side, "
                             f"got shape {arr.shape}")
    return arr


@lru_cache(maxsize=64)  # one per tile of each image size seen lately (1.5 ms to make at 256 px)
def border_ramp(box: tuple[int, int, int, int], image_hw: tuple[int, int], work_hw: tuple[int, int],
                edge_weight: float) -> np.ndarray:
    """float32 (work h, work w) map weights of one tile (pixel box `box` of an image of `image_hw`,
    worked at `work_hw`), read-only: `edge_weight` on the image's edge, rising linearly to 1 at
    BORDER_MARGIN working px inside; tile seams inside the image are not edges."""
    (y0, x0, y1, x1), (h, w), (wh, ww) = box, image_hw, work_hw

    def inside(start: int, end: int, side: int, work: int) -> np.ndarray:
        px = start + (np.arange(work) + 0.5) * (end - start) / work  # image px of each working px
        return np.minimum(px, side - px) * (work / (end - start))  # distance to an edge, working px

    dist = np.minimum(inside(y0, y1, h, wh)[:, None], inside(x0, x1, w, ww)[None, :])
    ramp = (edge_weight + (1 - edge_weight) * np.minimum(dist / BORDER_MARGIN, 1.0)).astype(np.float32)
    ramp.setflags(write=False)
    return ramp


class StandaloneModel(ScoreModel):
    """Patch nearest-neighbour detector on handcrafted multi-scale features (no weights)."""

    engine_id = "standalone"
    # 4: descriptors carry the log energy of filters learned from the references (saved in the npz)
    # 5: the handcrafted mid scales give way to learned filters on a 4-level lightness pyramid
    # 6: the map is weighted down towards the image's edges (border_weight)
    version = "6"

    def __init__(self, settings: Optional[dict[str, Any]] = None, device: str = "cpu") -> None:
        super().__init__(settings, device)
        self.params = engine_params(self.settings)
        self.layout: Optional[TileLayout] = None
        self.memory: Optional[PatchMemory] = None
        self.reference_hw: Optional[tuple[int, int]] = None
        self.scale = 1.0  # working px per image px, from the references
        self.fixed_view = False  # all references had one size
        self.lightness = 0.0  # references' median CIE L (0: exposure not normalised)
        self.aligned = False  # the references are aligned: cells are matched near their own place
        self.match_shift = 1.0  # the alignment test's median shift, share of the image side
        self.filters = np.zeros((0, FILTER_PX, FILTER_PX), np.float32)  # learned at fit time
        self.filter_groups = np.zeros(0, np.int64)  # filters per energy channel (symmetry groups)
        self.filter_levels = np.zeros(0, np.int64)  # each group's pyramid level (ascending)
        self._search: Optional[BankSearch] = None

    # ----------------------------------------------------------------------------- fit
    def fit(self, references: Sequence[np.ndarray], progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelFn] = None) -> None:
        """Build the memory bank from good images (uint8 RGB, any sizes; the median size sets
        the tile layout)."""
        with torch_threads(self.params["threads"]):
            self._fit(references, progress, cancel)

    def _fit(self, references: Sequence[np.ndarray], progress: Optional[ProgressFn],
             cancel: Optional[CancelFn]) -> None:
        p = self.params
        refs = [_as_rgb(r, f"reference {i}") for i, r in enumerate(references)]
        if not refs:
            raise InspectorError("the standalone engine needs at least 1 good reference image")
        n = len(refs)
        total = n + COARSE_STEPS
        hw = (int(np.median([r.shape[0] for r in refs])), int(np.median([r.shape[1] for r in refs])))
        layout = plan_tiles(hw[0], hw[1], p["tile_px"], p["stride"], resolution=p["resolution"])
        box = layout.boxes[0]
        tile_h, tile_w = (box[2] - box[0]) * hw[0], (box[3] - box[1]) * hw[1]
        scale = max(layout.work_hw) / max(tile_h, tile_w, 1e-9)  # working px per image px
        fixed_view = len({r.shape[:2] for r in refs}) == 1
        lightness = [image_lightness(r) for r in refs]
        self.layout, self.reference_hw, self.scale, self.fixed_view = layout, hw, scale, fixed_view
        self.lightness = float(np.median(lightness)) if p["normalise_exposure"] else 0.0
        per_ref = math.ceil(p["max_candidates"] / n)
        rng = np.random.default_rng(p["seed"])
        self.filters, self.filter_groups, self.filter_levels = self._learn_filters(refs, lightness, rng, progress,
                                                                                   total, cancel)
        features, positions = [], []
        self.aligned = False
        for i, ref in enumerate(refs):
            check_cancel(cancel)
            report(progress, i, total, f"features of reference {i + 1}/{n}")
            f, pos = self._descriptors(ref, self._layout_for(*ref.shape[:2]), lightness[i])
            if len(f) > per_ref:
                keep = np.sort(rng.choice(len(f), per_ref, replace=False))
                f, pos = f[keep], pos[keep]
            features.append(f)
            positions.append(pos)
        check_cancel(cancel)
        self.match_shift = match_shift(features, positions, rng)
        self.aligned = p["position_weight"] > 0 and self.match_shift <= ALIGNED_SHIFT
        if self.aligned:
            features = [np.concatenate([f, pos], 1) for f, pos in zip(features, positions)]

        def bank_progress(done: int, size: int, _msg: str) -> None:
            report(progress, n + done * COARSE_STEPS // size, total, "memory bank")

        sizes = self.group_sizes
        memory = PatchMemory.build(features, sizes, (1.0, p["learned_weight"], p["context_weight"]),
                                   sum(sizes[:2]), p["memory_size"], p["seed"],
                                   bank_progress, cancel, tie=self._channel_ids(),
                                   tail=2 * self.aligned, tail_weight=p["position_weight"])
        self.memory = memory
        self._search = BankSearch(memory, self.device, p["local_weight"])
        report(progress, total, total, "fitted")

    def _learn_filters(self, refs: Sequence[np.ndarray], lightness: Sequence[float], rng: np.random.Generator,
                       progress: Optional[ProgressFn], total: int,
                       cancel: Optional[CancelFn]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The PCA filter banks of the references' working lightness patches, one per pyramid
        level (a sample spread evenly over all references and their tiles): filters, their groups
        (see `learned.fit_filters`) and each group's level."""
        count, levels = self.params["learned_filters"], self.params["learned_levels"]
        if count == 0:
            return np.zeros((0, FILTER_PX, FILTER_PX), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
        report(progress, 0, total, "learning the references' filters")
        per_image = patches_per_image(len(refs))
        samples: list[list[np.ndarray]] = [[] for _ in range(levels)]
        for ref, light in zip(refs, lightness):
            check_cancel(cancel)
            layout, gain = self._layout_for(*ref.shape[:2]), self._gain(light)
            tiles = image_tiles(ref, layout)
            for _, tile in tiles:
                lum = working_lab(tile, layout.work_hw, gain)[..., 0]
                for level, image in enumerate(pyramid(lum, levels)):
                    samples[level].append(sample_patches(image, math.ceil(per_image / len(tiles)), rng))
        banks = [fit_filters(s, count) for s in samples]
        levels_of = [np.full(len(groups), level, np.int64) for level, (_, groups) in enumerate(banks)]
        return (np.concatenate([f for f, _ in banks]), np.concatenate([g for _, g in banks]),
                np.concatenate(levels_of))

    @property
    def group_sizes(self) -> tuple[int, int, int]:
        """Descriptor groups in order: local, learned, context (local + learned are the local
        part of the distance)."""
        return GROUP_SIZES[0], len(self.filter_groups), GROUP_SIZES[1]

    def _channel_ids(self) -> np.ndarray:
        """Per descriptor dimension: its handcrafted channel (all scales of one channel are
        standardised together), -1 for the learned filters (each on its own)."""
        hand = np.arange(sum(GROUP_SIZES)) % CHANNELS_PER_SCALE
        split = GROUP_SIZES[0]
        return np.concatenate([hand[:split], np.full(len(self.filter_groups), -1), hand[split:]])

    def _gain(self, lightness: float) -> float:
        """Lab factor that brings a shot's median lightness to the references' (1: off)."""
        if self.lightness <= 0:
            return 1.0
        return float(np.clip((self.lightness + 16) / (max(lightness, 0.0) + 16), 1 / MAX_GAIN, MAX_GAIN))

    def _descriptors(self, image: np.ndarray, layout: TileLayout, lightness: float) -> tuple[np.ndarray, np.ndarray]:
        """Descriptors of all tiles of an image, float32 (N, D), tile after tile, and the cells'
        places in the image (N, 2) (fractions of its height and width)."""
        gain = self._gain(lightness)
        feats = [self._tile_descriptors(tile, layout, gain) for _, tile in image_tiles(image, layout)]
        places = [cell_positions(box, layout.grid_hw).reshape(-1, 2) for box in layout.boxes]
        return np.concatenate(feats), np.concatenate(places)

    def _query(self, tile: np.ndarray, layout: TileLayout, box: tuple, gain: float) -> np.ndarray:
        """What the bank is searched with for one tile: its descriptors, and the cells' places
        when the product is aligned."""
        f = self._tile_descriptors(tile, layout, gain)
        if self.aligned:
            f = np.concatenate([f, cell_positions(box, layout.grid_hw).reshape(-1, 2)], 1)
        return f

    def _tile_descriptors(self, tile: np.ndarray, layout: TileLayout, gain: float = 1.0) -> np.ndarray:
        """(cells, D) descriptors in the order of `group_sizes`."""
        lab = working_lab(tile, layout.work_hw, gain)
        hand = lab_features(lab, layout.stride)
        learned = bank_energy(np.ascontiguousarray(lab[..., 0]), self.filters, self.filter_groups,
                              self.filter_levels, layout.grid_hw)
        split = GROUP_SIZES[0]
        f = np.concatenate([hand[..., :split], learned, hand[..., split:]], -1)
        return f.reshape(-1, f.shape[-1])

    # --------------------------------------------------------------------------- score
    def score(self, images: Sequence[np.ndarray]) -> list[tuple[float, np.ndarray]]:
        """(raw image score, raw map float32 (H, W) at input size) per uint8 RGB image."""
        if self._search is None or self.layout is None:
            raise InspectorError("the standalone model is not fitted: fit it on good references first")
        with torch_threads(self.params["threads"]):
            return [self._score_one(_as_rgb(img, f"image {i}")) for i, img in enumerate(images)]

    def _score_one(self, image: np.ndarray, evidence: bool = False) -> tuple:
        """Tile maps are smoothed at working size, resized to their pixels and averaged where
        tiles overlap; the image score is the highest smoothed value of any tile. With `evidence`,
        also the nearest-neighbour evidence on the patch grid (see `evidence`)."""
        import cv2

        h, w = image.shape[:2]
        layout, sigma = self._layout_for(h, w), self.params["map_sigma"]
        (wh, ww), (gh, gw) = layout.work_hw, layout.grid_hw
        total = np.zeros((h, w), np.float32)
        weight = np.zeros((h, w), np.float32)
        best = -np.inf
        gain = self._gain(image_lightness(image))
        if evidence:
            members = self._evidence_members()
            y0, x0, y1, x1 = image_tiles(image, layout)[0][0]
            eh, ew = max(1, round(h * gh / max(y1 - y0, 1))), max(1, round(w * gw / max(x1 - x0, 1)))
            ev, ev_weight = np.zeros((eh, ew, members.shape[1]), np.float32), np.zeros((eh, ew, 1), np.float32)
        for box, ((y0, x0, y1, x1), tile) in zip(layout.boxes, image_tiles(image, layout)):
            query = self._query(tile, layout, box, gain)
            if evidence:
                anomaly, local, residual = self._search.nearest(query)
            else:
                anomaly = self._search.anomaly(query)
            work = cv2.resize(anomaly.reshape(gh, gw), (ww, wh), interpolation=cv2.INTER_LINEAR)
            if sigma > 0:
                work = cv2.GaussianBlur(work, (0, 0), sigma)
            if self.params["border_weight"] < 1:
                work *= border_ramp((y0, x0, y1, x1), (h, w), (wh, ww), self.params["border_weight"])
            best = max(best, float(work.max()))
            total[y0:y1, x0:x1] += cv2.resize(work, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
            weight[y0:y1, x0:x1] += 1.0
            if evidence:
                cells = np.sqrt(residual @ members[:residual.shape[1]])
                cells[:, 0], cells[:, 1] = anomaly, local
                ey0, ex0 = round(y0 * eh / h), round(x0 * ew / w)
                ey1, ex1 = max(ey0 + 1, round(y1 * eh / h)), max(ex0 + 1, round(x1 * ew / w))
                part = cv2.resize(cells.reshape(gh, gw, -1), (ex1 - ex0, ey1 - ey0), interpolation=cv2.INTER_LINEAR)
                ev[ey0:ey1, ex0:ex1] += part.reshape(ey1 - ey0, ex1 - ex0, -1)
                ev_weight[ey0:ey1, ex0:ex1] += 1.0
        if len(layout.boxes) > 1:
            total /= np.maximum(weight, 1.0)
        if not evidence:
            return best, total
        ev /= np.maximum(ev_weight, 1.0)
        return best, total, np.ascontiguousarray(ev.transpose(2, 0, 1))

    def _evidence_members(self) -> np.ndarray:
        """(D + 2, C) 0/1: which evidence channel each descriptor dimension adds to (columns 0-1 are
        filled apart; the learned filters belong to their group only; the two place dimensions of
        an aligned product belong to none)."""
        sizes = self.group_sizes
        dims = sum(sizes)
        groups = np.repeat(np.arange(len(sizes)), sizes)
        channel = self._channel_ids()
        members = np.zeros((dims + 2, 2 + len(sizes) + CHANNELS_PER_SCALE), np.float32)
        members[np.arange(dims), 2 + groups] = 1
        hand = np.flatnonzero(channel >= 0)
        members[hand, 2 + len(sizes) + channel[hand]] = 1
        return members

    def evidence(self, image: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """score() of one image and the nearest-neighbour evidence behind it, in one pass (for the
        trained local head).

        Returns (raw score, raw map (H, W)) exactly as score() gives them, and evidence float32
        (C, gh, gw) on the engine's patch grid over the whole image (unsmoothed): [0] the patch
        anomaly, [1] its local-only distance, then for each feature group (local, learned,
        context), then for each handcrafted channel (all its scales together), the distance to the
        joint nearest bank patch on those dimensions only. C = 2 + 3 + CHANNELS_PER_SCALE.
        """
        if self._search is None or self.layout is None:
            raise InspectorError("the standalone model is not fitted: fit it on good references first")
        with torch_threads(self.params["threads"]):
            return self._score_one(_as_rgb(image, "image"), evidence=True)

    def _layout_for(self, height: int, width: int) -> TileLayout:
        """Every image is worked at the references' pixel scale, whatever its size or aspect (a
        larger crop of a texture is more of it, not a zoom). One exception: when all references
        had one size (a fixed camera view) an image of that aspect ratio but another size is the
        same view at another resolution, and is brought to the references' size."""
        ref_h, ref_w = self.reference_hw
        if (height, width) == (ref_h, ref_w):
            return self.layout
        scale = self.scale
        if self.fixed_view and abs(math.log((height / width) / (ref_h / ref_w))) <= ASPECT_TOLERANCE:
            scale *= math.sqrt(ref_h * ref_w / (height * width))
        return plan_tiles(height, width, self.params["tile_px"], self.layout.stride, scale=scale)

    # ----------------------------------------------------------------------- save/load
    def save(self, folder: Path) -> None:
        """Write standalone.npz (arrays, no pickle) and standalone.json (settings, layout)."""
        if self.memory is None or self.layout is None:
            raise InspectorError("the standalone model is not fitted: nothing to save")
        folder = Path(folder)
        buf = io.BytesIO()
        np.savez(buf, **self.memory.to_arrays(), filters=self.filters, filter_groups=self.filter_groups,
                 filter_levels=self.filter_levels)
        atomic_write_bytes(folder / STATE_ARRAYS, buf.getvalue())
        meta = {"engine_id": self.engine_id, "version": self.version, "params": self.params,
                "layout": self.layout.to_json(), "reference_hw": list(self.reference_hw),
                "scale": self.scale, "fixed_view": self.fixed_view, "lightness": self.lightness,
                "aligned": self.aligned, "match_shift": self.match_shift}
        atomic_write_bytes(folder / STATE_JSON, json.dumps(meta, indent=1).encode("utf-8"))

    @classmethod
    def load(cls, folder: Path, settings: Optional[dict[str, Any]] = None,
             device: str = "cpu") -> "StandaloneModel":
        folder = Path(folder)

        def corrupt(exc: Exception) -> InspectorError:
            return InspectorError(f"{folder}: standalone model state is missing or corrupt ({exc}); "
                                  "fit the product again")

        try:
            meta = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise corrupt(exc) from None
        if not isinstance(meta, dict):
            raise corrupt(ValueError(f"{STATE_JSON} holds no object"))
        # the version first: an older engine's arrays lack today's keys, and that is the real reason
        if meta.get("engine_id") != cls.engine_id or meta.get("version") != cls.version:
            raise InspectorError(f"{folder}: saved by engine {meta.get('engine_id')} version "
                                 f"{meta.get('version')}, this is {cls.engine_id} version {cls.version}: "
                                 "fit the product again")
        try:
            with np.load(folder / STATE_ARRAYS, allow_pickle=False) as arrays:
                memory = PatchMemory.from_arrays(arrays)
                filters = np.asarray(arrays["filters"], np.float32)
                groups = np.asarray(arrays["filter_groups"], np.int64)
                levels = np.asarray(arrays["filter_levels"], np.int64)
        except (OSError, ValueError, KeyError) as exc:
            raise corrupt(exc) from None
        saved = engine_params(meta["params"])
        if settings:
            asked = engine_params(settings)
            changed = [k for k in SETTINGS if k in settings and asked[k] != saved[k]]
            if changed:
                raise InspectorError(f"standalone settings changed since fitting ({', '.join(changed)}): "
                                     "fit the product again")
        model = cls({**(settings or {}), **saved}, device)
        try:
            model.layout = TileLayout.from_json(meta["layout"])
            model.reference_hw = tuple(int(v) for v in meta["reference_hw"])
            model.scale, model.fixed_view = float(meta["scale"]), bool(meta["fixed_view"])
            model.lightness = float(meta["lightness"])
            model.aligned, model.match_shift = bool(meta["aligned"]), float(meta["match_shift"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InspectorError(f"{folder}: standalone model state is incomplete ({exc!r}); "
                                 "fit the product again") from None
        if filters.ndim != 3 or filters.shape[1:] != (FILTER_PX, FILTER_PX) or groups.ndim != 1 or \
                int(groups.sum()) != len(filters) or levels.shape != groups.shape or \
                np.any(np.diff(levels) < 0) or np.any(levels < 0) or \
                memory.bank.shape[1] != sum(GROUP_SIZES) + len(groups) + 2 * model.aligned:
            raise InspectorError(f"{folder}: standalone model state is inconsistent (filters {filters.shape}, "
                                 f"groups {groups.shape}, bank {memory.bank.shape}); fit the product again")
        model.filters, model.filter_groups, model.filter_levels = filters, groups, levels
        model.memory = memory
        model._search = BankSearch(memory, device, model.params["local_weight"])
        return model
