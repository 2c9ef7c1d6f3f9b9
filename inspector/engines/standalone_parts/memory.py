"""The memory bank of good patches and nearest-neighbour distances to it (torch, CPU or GPU).

Descriptors are standardised per channel, by the largest spread that channel has at any of its
scales (with a floor, so near-constant channels of smooth products do not blow up sensor
noise), and each feature group is weighted by `weight / sqrt(its dimensions)`. A greedy
k-centre coreset keeps the bank small while covering rare good patches.

The anomaly of a patch is the sum of two nearest-neighbour distances to the bank:
- joint: over all groups, so a normal-looking patch in the wrong context is found (cracks, gaps);
- local: over the local and learned groups only, sharper for small colour or surface defects.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ...core.progress import CancelFn, ProgressFn, check_cancel, report

SD_FLOOR = 0.3  # share of the group's median standard deviation added to every dimension's
SD_FLOOR_ABS = 1e-3  # and an absolute floor, for references that are all alike (feature units ~0.01-1)
PROJECTION_DIM = 32  # the coreset is selected in a random projection of this size
QUERY_BLOCK = 1 << 20  # query x bank distances held at once (fits the CPU caches)


@dataclass
class PatchMemory:
    """mean, scale: float32 (D,); bank: float32 (M, D) standardised; n_local: local + learned dims."""

    mean: np.ndarray
    scale: np.ndarray
    bank: np.ndarray
    n_local: int

    @classmethod
    def build(cls, features: Sequence[np.ndarray], group_sizes: Sequence[int],
              group_weights: Sequence[float], n_local: int, memory_size: int, seed: int = 0,
              progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None,
              tie: Optional[np.ndarray] = None, tail: int = 0, tail_weight: float = 1.0) -> "PatchMemory":
        """features: float32 (N_i, D) descriptors of good patches (already subsampled).
        tie: (D - tail,) ints; dimensions with the same id >= 0 (one channel at all its scales)
        are all divided by the largest spread any of them has (-1: by its own): one unit of
        lightness (or of scale-normalised gradient) weighs the same at every scale, so a scale at
        which the good images barely vary (the context of a uniform texture) stays quiet instead
        of having its noise blown up to the size of the informative scales.
        tail: the last `tail` dimensions (cell positions) are not standardised, only weighted by
        `tail_weight`; they belong to the context part (the joint distance only)."""
        x = np.concatenate(features, 0).astype(np.float32, copy=False)
        mean = x.mean(0)
        mean[x.shape[1] - tail:] = 0
        sd = x[:, :x.shape[1] - tail].std(0)
        if tie is not None:
            tied = tie >= 0
            widest = np.zeros(int(tie.max(initial=-1)) + 1, sd.dtype)
            np.maximum.at(widest, tie[tied], sd[tied])
            sd = np.where(tied, widest[np.maximum(tie, 0)], sd)
        scales, start = [], 0
        for size, weight in zip(group_sizes, group_weights):
            g = sd[start:start + size]
            if size == 0:
                continue
            g = np.sqrt(g ** 2 + (SD_FLOOR * float(np.median(g))) ** 2 + SD_FLOOR_ABS ** 2)
            scales.append(weight / np.sqrt(size) / g)
            start += size
        scales.append(np.full(tail, tail_weight, np.float32))
        scale = np.concatenate(scales).astype(np.float32)
        x -= mean
        x *= scale
        keep = greedy_coreset(x, memory_size, seed, progress, cancel)
        return cls(mean.astype(np.float32), scale, np.ascontiguousarray(x[keep]), n_local)

    def standardise(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) * self.scale).astype(np.float32, copy=False)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "bank": self.bank,
                "n_local": np.array(self.n_local, dtype=np.int64)}

    @classmethod
    def from_arrays(cls, arrays) -> "PatchMemory":
        return cls(np.asarray(arrays["mean"], np.float32), np.asarray(arrays["scale"], np.float32),
                   np.ascontiguousarray(arrays["bank"], dtype=np.float32), int(arrays["n_local"]))


@contextmanager
def torch_threads(n: int):
    """Run torch ops on `n` threads (0: leave as is), then restore the count (process-wide)."""
    import torch

    before = torch.get_num_threads()
    if n <= 0 or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def greedy_coreset(x: np.ndarray, size: int, seed: int = 0, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelFn] = None) -> np.ndarray:
    """Indices of `size` rows of x (N, D) chosen by greedy k-centre (farthest point) selection."""
    import torch

    n = x.shape[0]
    if n <= size:
        return np.arange(n)
    gen = torch.Generator().manual_seed(seed)
    xt = torch.from_numpy(x)
    if x.shape[1] > PROJECTION_DIM:
        proj = torch.randn(x.shape[1], PROJECTION_DIM, generator=gen) / PROJECTION_DIM ** 0.5
        xt = xt @ proj
    xt = xt.contiguous()
    norms = (xt * xt).sum(1)
    chosen = np.empty(size, np.int64)
    nearest = torch.full((n,), float("inf"))
    current = int(torch.randint(n, (1,), generator=gen))
    step = max(1, size // 20)
    with torch_threads(1):  # thousands of tiny steps: a second thread only adds waiting
        for j in range(size):
            chosen[j] = current
            # squared distance to the new centre: ||x||^2 - 2 x.c + ||c||^2 (a matrix-vector product)
            dist = torch.mv(xt, xt[current]).mul_(-2).add_(norms).add_(norms[current])
            torch.minimum(nearest, dist, out=nearest)
            current = int(torch.argmax(nearest))
            if j % step == step - 1:
                check_cancel(cancel)
                report(progress, j + 1, size, "memory bank")
    return chosen


class BankSearch:
    """Nearest-neighbour search against a PatchMemory on one torch device."""

    def __init__(self, memory: PatchMemory, device: str = "cpu", local_weight: float = 1.0) -> None:
        import torch

        self.memory = memory
        self.device = device
        self.local_weight = local_weight
        bank = torch.from_numpy(memory.bank).to(device)
        nl = memory.n_local
        self.bank_local = bank[:, :nl].contiguous()
        self.bank_context = bank[:, nl:].contiguous()
        # [q, 1] @ [-2 b^T; |b|^2] = |b|^2 - 2 q.b: the bank's norms ride in the product, so a
        # block's distances take one pass over memory instead of a bias copy and an addition
        self.local_t = self._augmented(self.bank_local)
        self.context_t = self._augmented(self.bank_context)
        self.block = max(1, QUERY_BLOCK // max(1, bank.shape[0]))

    @staticmethod
    def _augmented(part):  # noqa: ANN001, ANN205 - torch tensors
        import torch

        return torch.cat([-2 * part.T, (part * part).sum(1)[None]], 0).contiguous()

    def anomaly(self, features: np.ndarray) -> np.ndarray:
        """Joint + local_weight * local nearest-neighbour distance, float32 (N,), of raw
        descriptors (N, D)."""
        return self._search(features, evidence=False)[0]

    def nearest(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """anomaly() with its evidence (for the trained local head): (anomaly (N,), local (N,) the
        local-only nearest-neighbour distance, residual (N, D) float32 squared standardised
        difference of each dimension to the joint nearest bank patch)."""
        return self._search(features, evidence=True)

    def _search(self, features: np.ndarray, evidence: bool) -> tuple[np.ndarray, ...]:
        import torch

        q = torch.from_numpy(self.memory.standardise(features)).to(self.device)
        nl = self.memory.n_local
        ones = torch.ones(q.shape[0], 1, device=self.device)
        q_local, q_context = torch.cat([q[:, :nl], ones], 1), torch.cat([q[:, nl:], ones], 1)
        sq_l, sq_c = (q[:, :nl] ** 2).sum(1), (q[:, nl:] ** 2).sum(1)
        out = torch.empty(q.shape[0], device=self.device)
        buf = torch.empty(min(self.block, q.shape[0]), self.local_t.shape[1], device=self.device)
        if evidence:
            bank = torch.cat([self.bank_local, self.bank_context], 1)
            local_out, residual = torch.empty(q.shape[0], device=self.device), torch.empty(q.shape, device=self.device)
        with torch.no_grad():
            for s in range(0, q.shape[0], self.block):
                e = min(s + self.block, q.shape[0])
                d2 = buf[:e - s]  # one preallocated block, filled in place (the products dominate)
                # squared distances (less the query's norm) of the local dims, then of all dims
                torch.mm(q_local[s:e], self.local_t, out=d2)
                local = (d2.amin(1) + sq_l[s:e]).clamp_min(0).sqrt()
                d2.addmm_(q_context[s:e], self.context_t)
                if evidence:
                    best, arg = d2.min(1)  # argmin only for the evidence: one more pass
                else:
                    best = d2.amin(1)
                out[s:e] = (best + sq_l[s:e] + sq_c[s:e]).clamp_min(0).sqrt() + self.local_weight * local
                if evidence:
                    local_out[s:e] = local
                    residual[s:e] = (q[s:e] - bank[arg]) ** 2
        if not evidence:
            return (out.cpu().numpy().astype(np.float32),)
        return tuple(t.cpu().numpy().astype(np.float32) for t in (out, local_out, residual))


def match_shift(features: Sequence[np.ndarray], positions: Sequence[np.ndarray], rng: np.random.Generator,
                queries: int = 256, bank: int = 16384, refs: int = 8) -> float:
    """How far good patches find their match: the median, over cells of up to `refs` references, of
    the shift (largest of |dy|, |dx|, as shares of the image side) between a cell and its nearest
    neighbour among the cells of the *other* references (features standardised per dimension).
    Small when parts sit in a fixture (their features repeat in place), about 1/3 when they do
    not (or for a texture, whose patches match anywhere). 1.0 with a single reference."""
    import torch

    n = len(features)
    if n < 2:
        return 1.0
    x = np.concatenate(features, 0)
    mean, sd = x.mean(0), x.std(0) + 1e-6
    owner = np.repeat(np.arange(n), [len(f) for f in features])
    places = np.concatenate(positions, 0)
    shifts = []
    for i in np.unique(np.linspace(0, n - 1, min(n, refs)).round().astype(int)):
        mine, others = np.flatnonzero(owner == i), np.flatnonzero(owner != i)
        q = rng.choice(mine, min(queries, len(mine)), replace=False)
        b = rng.choice(others, min(bank, len(others)), replace=False)
        qt = torch.from_numpy((x[q] - mean) / sd)
        bt = torch.from_numpy((x[b] - mean) / sd)
        nearest = b[torch.cdist(qt, bt).argmin(1).numpy()]
        shifts.append(np.abs(places[q] - places[nearest]).max(1))
    return float(np.median(np.concatenate(shifts)))
