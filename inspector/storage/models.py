"""SQLAlchemy 2 typed models of a workspace database.

File paths are stored relative to the workspace root, with forward slashes.
Changing these models needs a new Alembic migration in storage/migrations/versions/.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class Product(Base):
    __tablename__ = "products"
    # Ids are never reused (migration 0002): a new product must not inherit an old one's folder.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)  # e.g. {"material": "steel", "object": "washer"}
    defect_words: Mapped[list[str]] = mapped_column(default=list)
    engine: Mapped[str] = mapped_column(String(40), default="standalone")
    engine_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    threshold: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    target_frr: Mapped[float] = mapped_column(Float, default=0.01)
    # Fitted engine state + calibration: a folder under the product, versioned together.
    state_path: Mapped[Optional[str]] = mapped_column(String(400), nullable=True)
    state_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    references: Mapped[list["ReferenceImage"]] = relationship(
        back_populates="product", cascade="all, delete-orphan", passive_deletes=True)


class ReferenceImage(Base):
    __tablename__ = "reference_images"
    __table_args__ = (UniqueConstraint("product_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(400))
    sha256: Mapped[str] = mapped_column(String(64))
    original_name: Mapped[str] = mapped_column(String(400), default="")
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    product: Mapped[Product] = relationship(back_populates="references")


class Inspection(Base):
    __tablename__ = "inspections"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    image_path: Mapped[Optional[str]] = mapped_column(String(400), nullable=True)
    original_name: Mapped[str] = mapped_column(String(400), default="")
    source: Mapped[str] = mapped_column(String(20))  # file | batch | camera
    engine_id: Mapped[str] = mapped_column(String(40))
    engine_version: Mapped[str] = mapped_column(String(40))
    score: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(4), index=True)  # OK | NG
    threshold: Mapped[float] = mapped_column(Float)
    duration_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    station: Mapped[str] = mapped_column(String(120), default="")
    operator: Mapped[str] = mapped_column(String(120), default="")
    # Operator feedback: "" | "false_reject" | "missed_defect"
    flag: Mapped[str] = mapped_column(String(20), default="")

    regions: Mapped[list["Region"]] = relationship(
        back_populates="inspection", cascade="all, delete-orphan", passive_deletes=True)


class Region(Base):
    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspections.id", ondelete="CASCADE"), index=True)
    x0: Mapped[int] = mapped_column(Integer)
    y0: Mapped[int] = mapped_column(Integer)
    x1: Mapped[int] = mapped_column(Integer)
    y1: Mapped[int] = mapped_column(Integer)
    mask_path: Mapped[Optional[str]] = mapped_column(String(400), nullable=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    score: Mapped[float] = mapped_column(Float)
    area_px: Mapped[int] = mapped_column(Integer)

    inspection: Mapped[Inspection] = relationship(back_populates="regions")


class SyntheticSample(Base):
    __tablename__ = "synthetic_samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    image_path: Mapped[str] = mapped_column(String(400))
    mask_path: Mapped[Optional[str]] = mapped_column(String(400), nullable=True)
    method: Mapped[str] = mapped_column(String(40))  # rules | cut | inpaint
    prompt: Mapped[str] = mapped_column(Text, default="")
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    filter_score: Mapped[Optional[float]] = mapped_column(Float, nullable=True)
    accepted: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Detector(Base):
    __tablename__ = "detectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    weights_path: Mapped[str] = mapped_column(String(400))
    base_engine: Mapped[str] = mapped_column(String(40))
    training_set: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEntry(Base):
    """One change of a recipe, threshold, reference or setting: who, where, when, old -> new.

    No foreign key to products: the trail outlives a deleted product (product_name keeps it
    readable). Values are JSON text."""
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)  # UTC
    role: Mapped[str] = mapped_column(String(20))  # operator | engineer | "" (roles off)
    user: Mapped[str] = mapped_column(String(120))
    station: Mapped[str] = mapped_column(String(120))
    product_id: Mapped[Optional[int]] = mapped_column(Integer, nullable=True, index=True)
    product_name: Mapped[str] = mapped_column(String(120))
    what: Mapped[str] = mapped_column(String(60))
    old_value: Mapped[str] = mapped_column(Text)
    new_value: Mapped[str] = mapped_column(Text)


class WorkspaceSetting(Base):
    """Workspace-wide key/value settings (roles on/off, the engineer password's scrypt hash)."""
    __tablename__ = "workspace_settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
