"""Memory bank of normal patch tokens (one per stage) and the vision-vision distance (seed 001, Eq. 9).

The bank keeps at most `max_size` L2-normalised tokens per stage, thinned by a greedy
k-center coreset (PatchCore) or a random subsample, so scoring time stays bounded however
many references a product has. Tokens are stored as float16 (what is saved), used as float32.
"""

from __future__ import annotations

from typing import Any, Optional

from ...core.progress import CancelFn, check_cancel

PROJECTION_DIM = 128  # random projection for the coreset distances (Johnson-Lindenstrauss)
MAX_CANDIDATES = 1 << 16  # more stage tokens than this are cut at random before the coreset
MAX_SIM_ELEMENTS = 1 << 24  # bound on the similarity block held at once (64 MB in fp32)


def greedy_coreset(x: Any, k: int, seed: int = 0, cancel: Optional[CancelFn] = None) -> Any:
    """Indices (k,) of a greedy k-center coreset of the rows of x (N, C): each pick is the row
    least similar to those picked so far (cosine, in a random 128-d projection when C > 128)."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator(device="cpu").manual_seed(seed)
    n, c = x.shape
    if c > PROJECTION_DIM:
        proj = torch.randn(c, PROJECTION_DIM, generator=gen).to(x.device)
        z = torch.cat([x[i:i + 65536].float() @ proj for i in range(0, n, 65536)])
    else:
        z = x.float()
    z = F.normalize(z, dim=1)
    picked = torch.empty(k, dtype=torch.long, device=x.device)
    picked[0] = int(torch.randint(n, (1,), generator=gen))
    best = torch.full((n,), -2.0, device=x.device)  # max similarity to the picked rows
    for j in range(1, k + 1):
        torch.maximum(best, z @ z[picked[j - 1]], out=best)
        if j == k:
            break
        picked[j] = torch.argmin(best)
        if j % 512 == 0:
            check_cancel(cancel)
    return picked


def build_bank(tokens: Any, max_size: int, method: str = "coreset", seed: int = 0,
               cancel: Optional[CancelFn] = None) -> Any:
    """Bank (n <= max_size, C) float16 from stage tokens (N, C); all of them when N <= max_size."""
    import torch

    n = tokens.shape[0]
    if n <= max_size:
        return tokens.half().contiguous()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    if method == "random":
        keep = torch.randperm(n, generator=gen)[:max_size].sort().values
        return tokens[keep.to(tokens.device)].half().contiguous()
    pool = torch.arange(n)
    if n > MAX_CANDIDATES:  # bounds the coreset's cost per pick
        pool = torch.randperm(n, generator=gen)[:MAX_CANDIDATES].sort().values
    candidates = tokens[pool.to(tokens.device)]
    keep = greedy_coreset(candidates, max_size, seed, cancel).sort().values
    return candidates[keep].half().contiguous()


def nearest_distance(queries: Any, bank: Any) -> Any:
    """1 - max cosine similarity of each query row (M, C) to the bank (N, C): (M,) float32.

    Rows are L2-normalised, so the value lies in [0, 2]; computed in blocks of bank rows.
    """
    import torch

    q = queries.float()
    step = max(1, MAX_SIM_ELEMENTS // max(q.shape[0], 1))
    best = torch.full((q.shape[0],), -2.0, device=q.device)
    for i in range(0, bank.shape[0], step):
        sims = q @ bank[i:i + step].to(q.device, torch.float32).T
        torch.maximum(best, sims.max(dim=1).values, out=best)
    return 1.0 - best
