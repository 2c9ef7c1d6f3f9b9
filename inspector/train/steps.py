"""What both trainers (the standalone head, loop.py; VLAD's adapters, vlad_adapters.py) do at
every step: the stage's cosine learning rate, one optimiser step, and out-of-memory recovery."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from ..core.errors import InspectorError


def set_cosine_lr(optimizer: Any, base_lr: float, ep: Any, epochs: Sequence[Any], done: int) -> None:
    """Cosine annealing within the stage: `ep` is the current epoch plan (stage, index_in_stage,
    samples, lr_factor), `done` the samples of it seen after this step."""
    stage_pos = (ep.index_in_stage + done / ep.samples) / max(1, sum(1 for e in epochs if e.stage == ep.stage))
    for g in optimizer.param_groups:
        g["lr"] = base_lr * ep.lr_factor * 0.5 * (1 + math.cos(math.pi * min(1.0, stage_pos)))


def optimise(accelerator: Any, optimizer: Any, loss_fn: Callable[[], dict]) -> float:
    """One step on the loss terms `loss_fn()` computes (under autocast); the loss as a float."""
    with accelerator.autocast():
        terms = loss_fn()
    optimizer.zero_grad()
    accelerator.backward(terms["loss"])
    optimizer.step()
    return float(terms["loss"].detach())


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or \
        (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def lower_batch(exc: Exception, optimizer: Any, device: str, batch: int, say: Callable[[str], None],
                hint: str = "") -> int:
    """After an exception in a step: re-raise it unless it is out of memory; else free what the
    failed step held and return half the batch size, or stop with a message at batch size 1."""
    if not is_out_of_memory(exc):
        raise exc
    optimizer.zero_grad()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()
    if batch == 1:
        raise InspectorError(f"out of GPU memory even with batch size 1 — train with --device cpu, {hint}"
                             "or close other programs using the GPU") from None
    batch = max(1, batch // 2)
    say(f"out of memory: batch size lowered to {batch}, going on")
    return batch


def restore_run(accelerator: Any, last: Any, start: dict) -> tuple[int, int, int, int, list]:
    """Load the checkpoint folder `last` (its sealed record `start`) into the accelerator: the
    (epoch, samples done in it, batch size, step, history) to go on from."""
    try:
        accelerator.load_state(str(last))
    except Exception as exc:  # noqa: BLE001 - any failure to read it means the same to the user
        raise InspectorError(f"checkpoint {last} cannot be loaded ({type(exc).__name__}: {exc}) — delete "
                             "the run folder or train again without --resume") from None
    return (int(start["epoch"]), int(start["done_in_epoch"]), int(start["batch_size"]), int(start["step"]),
            list(start["history"]))
