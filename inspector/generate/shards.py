"""Splitting one generation job over processes: process RANK of WORLD makes the sample indices
i with i % WORLD == RANK. The split comes from `--shard K/N`, else from the variables an existing
launcher sets (torchrun and `accelerate launch` both set RANK, WORLD_SIZE and LOCAL_RANK)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional

from ..core.errors import InspectorError


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world: int = 1
    local_rank: int = 0  # the GPU of this process on its machine
    source: str = ""  # "--shard" or "launcher"; "" when not split

    def owns(self, index: int) -> bool:
        return index % self.world == self.rank

    @property
    def split(self) -> bool:
        return self.world > 1

    @property
    def prefix(self) -> str:
        """What this process's lines start with, so interleaved output stays readable."""
        return f"[rank {self.rank}/{self.world}] " if self.split else ""


def parse_shard(text: str) -> Shard:
    """`K/N` (K from 0): this process makes indices i with i % N == K."""
    k, sep, n = (text or "").partition("/")
    try:
        rank, world = int(k), int(n)
    except ValueError:
        rank = world = -1
    if not sep or world < 1 or not 0 <= rank < world:
        raise InspectorError(f"--shard '{text}' must be K/N with 0 <= K < N, e.g. --shard 0/2 and "
                             f"--shard 1/2 for two processes")
    return Shard(rank, world, 0, "--shard")


def from_env(env: Optional[Mapping[str, str]] = None) -> Shard:
    """The launcher's split (RANK, WORLD_SIZE, LOCAL_RANK); one whole job when none is set."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        return Shard()
    try:
        world = int(env["WORLD_SIZE"])
        rank = int(env.get("RANK", env.get("LOCAL_RANK", "0")))
        local = int(env.get("LOCAL_RANK", rank))
    except ValueError:
        raise InspectorError(f"the launcher's WORLD_SIZE={env.get('WORLD_SIZE')!r} RANK={env.get('RANK')!r} "
                             f"LOCAL_RANK={env.get('LOCAL_RANK')!r} are not whole numbers — start it with "
                             f"torchrun or `accelerate launch`, or pass --shard K/N") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise InspectorError(f"the launcher set RANK={rank} of WORLD_SIZE={world} — each must be "
                             f"0 <= RANK < WORLD_SIZE; or pass --shard K/N")
    return Shard(rank, world, local, "launcher" if world > 1 else "")


def resolve(option: Optional[str], env: Optional[Mapping[str, str]] = None) -> Shard:
    """An explicit --shard wins over the launcher's variables."""
    if option:
        return parse_shard(option)
    return from_env(env)


def pin_gpu(shard: Shard) -> str:
    """Make "cuda" mean this process's GPU (cuda:LOCAL_RANK), so every rank keeps the same recipe
    (device "cuda"/"auto") while using its own card. Returns what this process runs on."""
    try:
        import torch
    except ImportError:
        return "cpu"
    if not torch.cuda.is_available():
        return "cpu"
    n = torch.cuda.device_count()
    if shard.local_rank >= n:
        raise InspectorError(f"LOCAL_RANK {shard.local_rank} but this machine has {n} GPU(s) — start at "
                             f"most {n} processes per machine (--nproc_per_node {n})")
    torch.cuda.set_device(shard.local_rank)
    return f"cuda:{shard.local_rank}"
