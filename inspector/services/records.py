"""Plain records returned by services (safe to pass between threads)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional


@dataclass(frozen=True)
class ProductInfo:
    id: int
    name: str
    description: str
    tags: dict[str, Any]
    defect_words: list[str]
    engine: str
    engine_settings: dict[str, Any]
    threshold: Optional[float]
    target_frr: float
    state_path: Optional[str]
    state_version: int
    n_references: int
    created_at: datetime


@dataclass(frozen=True)
class ReferenceInfo:
    id: int
    product_id: int
    path: str  # relative to the workspace root
    sha256: str
    original_name: str
    width: int
    height: int
    added_at: datetime


@dataclass(frozen=True)
class RegionInfo:
    box: tuple[int, int, int, int]
    label: str
    score: float
    area_px: int
    mask_path: Optional[str] = None


@dataclass(frozen=True)
class InspectionInfo:
    id: int
    product: str
    image_path: Optional[str]
    original_name: str
    source: str
    engine_id: str
    engine_version: str
    score: float
    verdict: str
    threshold: float
    duration_ms: float
    created_at: datetime
    station: str
    operator: str
    flag: str
    regions: list[RegionInfo] = field(default_factory=list)
