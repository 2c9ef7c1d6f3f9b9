"""Small helpers for tests (import as `from helpers import ...`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_png(path: Path, seed: int = 0, size: tuple[int, int] = (64, 48)) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def tree_snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root with its content (the database included), to prove nothing changed."""
    import sqlite3

    snap: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith("inspector.db"):
            snap[p.relative_to(root).as_posix()] = p.read_bytes()
    db = root / "inspector.db"
    if db.exists():
        con = sqlite3.connect(db)
        snap["<db dump>"] = "\n".join(con.iterdump()).encode()
        con.close()
    return snap
