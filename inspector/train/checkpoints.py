"""Checkpoint folders of a training run: accelerate writes the state, a manifest seals it.

`accelerator.save_state` writes model, optimizer and RNG states; `run.json` is written last
with a SHA-256 of every file, so a folder without it is an interrupted save (skipped) and a
folder whose files no longer match is corrupt (refused with a message, never loaded).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

from ..core.errors import InspectorError
from ..core.image_io import atomic_write_bytes

MANIFEST = "run.json"
KEEP = 2  # checkpoints kept per run: the last and the one before it


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def seal(folder: Path, state: dict) -> None:
    files = {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}
    atomic_write_bytes(folder / MANIFEST, json.dumps({**state, "files": files}, indent=1).encode())


def save(accelerator: Any, root: Path, epoch: int, done: int, record: dict,
         write_extra: Callable[[Path], None]) -> None:
    """One checkpoint of a run: accelerate's state, then (main process) `write_extra(folder)` and
    the sealed `record` with the place in the run; older checkpoints pruned."""
    folder = Path(root) / f"ckpt_{epoch:04d}_{done:07d}"
    accelerator.save_state(str(folder))
    if accelerator.is_main_process:
        write_extra(folder)
        seal(folder, {**record, "epoch": epoch, "done_in_epoch": done})
        prune(Path(root))
    accelerator.wait_for_everyone()


def prune(root: Path) -> None:
    done = sorted(p for p in root.glob("ckpt_*") if (p / MANIFEST).exists())
    for old in done[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    for partial in (p for p in root.glob("ckpt_*") if not (p / MANIFEST).exists()):
        if done and partial.name < done[-1].name:
            shutil.rmtree(partial, ignore_errors=True)


def latest(root: Path) -> Optional[Path]:
    """The newest sealed checkpoint folder, or None."""
    done = sorted(p for p in Path(root).glob("ckpt_*") if (p / MANIFEST).exists())
    return done[-1] if done else None


def verify(folder: Path) -> dict:
    """The manifest of a checkpoint whose files are all intact; InspectorError otherwise."""
    hint = "delete the run folder or train again without --resume"
    try:
        state = json.loads((folder / MANIFEST).read_text())
        files = state["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InspectorError(f"checkpoint {folder} is corrupt: its manifest is unreadable ({exc}) — {hint}") from None
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            raise InspectorError(f"checkpoint {folder} is corrupt: {name} is missing — {hint}")
        if _sha256(path) != digest:
            raise InspectorError(f"checkpoint {folder} is corrupt: {name} does not match its checksum — {hint}")
    return state
