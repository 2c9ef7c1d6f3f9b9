"""The demo: a workspace whose products are rendered by this package, fitted and inspected.

Everything is made here (no downloaded data or weights), so it runs on any fresh machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..core.errors import ConflictError
from ..core.mvtec import read_category
from ..core.progress import CancelFn, ProgressFn
from ..storage.workspace import Workspace, init_workspace
from . import products as product_svc
from .references import add_references

DEMO_PRODUCTS = {
    "fabric": dict(description="Woven fabric (texture demo)", tags={"material": "fabric", "object": "fabric"},
                   defect_words=["hole", "stain", "scratch", "thread"]),
    "washer": dict(description="Metal washer (aligned-object demo)", tags={"material": "steel", "object": "washer"},
                   defect_words=["scratch", "dent", "crack", "stain"]),
}


def default_demo_dir() -> Path:
    from ..storage.workspace import default_workspace_dir
    return default_workspace_dir().parent / "demo-workspace"


@dataclass
class DemoProductReport:
    product: str
    n_references: int
    threshold: float
    n_test: int
    n_ng: int
    metrics: dict[str, float]
    lines: list[str]


def create_demo_workspace(root: Path, size: int = 256, seed: int = 0) -> tuple[Workspace, dict[str, Path]]:
    """Workspace with the demo products and their references; returns (workspace, test folders)."""
    from ..generate.procedural import write_demo_dataset

    ws = init_workspace(root)
    data_root = ws.root / "demo-data"
    test_dirs = {}
    for i, (name, meta) in enumerate(DEMO_PRODUCTS.items()):
        cat_dir = data_root / name
        if not (cat_dir / "train" / "good").is_dir():
            write_demo_dataset(data_root, name, size=size, seed=seed + i)
        try:
            product_svc.create_product(ws, name, meta["description"], meta["tags"], meta["defect_words"])
        except ConflictError:
            pass  # demo ran before: keep the product and its history
        add_references(ws, name, [cat_dir / "train" / "good"])
        test_dirs[name] = cat_dir
    return ws, test_dirs


def run_demo_product(ws: Workspace, product: str, category_dir: Path,
                     progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> DemoProductReport:
    """Fit (when needed), inspect every test image, and score the results against the truth."""
    from ..core import metrics
    from ..core.image_io import load_mask
    from .inspect import detector_for, inspect_paths

    det, _ = detector_for(ws, product, progress=progress, cancel=cancel)
    cat = read_category(category_dir.parent, category_dir.name)
    labels, scores, masks, maps, lines = [], [], [], [], []
    paths = [t.path for t in cat.test]
    for t, item in zip(cat.test, inspect_paths(ws, product, paths, det, source="batch", cancel=cancel)):
        r = item.result
        labels.append(t.label)
        scores.append(r.score)
        maps.append(r.anomaly_map)
        masks.append(load_mask(t.mask_path, r.anomaly_map.shape) if t.mask_path
                     else np.zeros(r.anomaly_map.shape, bool))
        truth = "good" if t.label == 0 else t.defect_type
        lines.append(f"{r.verdict}  {r.score:7.3f}  {r.timings_ms['total']:6.1f} ms  {truth:<14} {t.path.name}")
    figures = metrics.summarize(np.array(labels), np.array(scores), masks, maps)
    return DemoProductReport(product, len(cat.train), det.threshold, len(labels),
                             sum(l.startswith("NG") for l in lines), figures, lines)
