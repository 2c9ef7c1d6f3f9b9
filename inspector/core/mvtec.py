"""Read evaluation folders in MVTec-AD layout.

    ROOT/<category>/train/good/*.png
    ROOT/<category>/test/good/*.png
    ROOT/<category>/test/<defect type>/*.png
    ROOT/<category>/ground_truth/<defect type>/<stem>_mask.png
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from .errors import DatasetError
from .image_io import is_image_path


@dataclass(frozen=True)
class TestImage:
    path: Path
    defect_type: str  # "good" for normal images
    mask_path: Optional[Path]  # None for good images

    @property
    def label(self) -> int:
        return 0 if self.defect_type == "good" else 1


@dataclass(frozen=True)
class Category:
    name: str
    root: Path
    train: list[Path]
    test: list[TestImage]


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_path(p))


def list_categories(root: Path) -> list[str]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    cats = sorted(p.name for p in root.iterdir() if (p / "train" / "good").is_dir())
    if not cats:
        raise DatasetError(f"{root}: no category folders in MVTec-AD layout "
                           "(expected <category>/train/good, <category>/test/<type>, <category>/ground_truth)")
    return cats


def read_category(root: Path, name: str) -> Category:
    """Validate one category's layout; every defective test image must have its mask."""
    base = Path(root) / name
    if not base.is_dir():
        raise DatasetError(f"{base}: no such category (known: {', '.join(list_categories(root))})")
    train_dir, test_dir, gt_dir = base / "train" / "good", base / "test", base / "ground_truth"
    for d in (train_dir, test_dir):
        if not d.is_dir():
            raise DatasetError(f"{base}: missing folder {d.relative_to(base)} (MVTec-AD layout)")
    train = _images(train_dir)
    if not train:
        raise DatasetError(f"{train_dir}: no training images")
    test: list[TestImage] = []
    for type_dir in sorted(p for p in test_dir.iterdir() if p.is_dir()):
        for img in _images(type_dir):
            if type_dir.name == "good":
                test.append(TestImage(img, "good", None))
                continue
            mask = gt_dir / type_dir.name / f"{img.stem}_mask.png"
            if not mask.is_file():
                raise DatasetError(f"{img}: no ground-truth mask (expected {mask})")
            test.append(TestImage(img, type_dir.name, mask))
    if not test:
        raise DatasetError(f"{test_dir}: no test images")
    if not any(t.label for t in test) or all(t.label for t in test):
        raise DatasetError(f"{test_dir}: needs both good and defective test images to evaluate")
    return Category(name, base, train, test)


def read_dataset(root: Path, categories: Optional[Sequence[str]] = None) -> list[Category]:
    names = list(categories) if categories else list_categories(root)
    return [read_category(root, n) for n in names]
