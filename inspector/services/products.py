"""Create, list, show, rename, update and delete products."""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..core.errors import ConflictError, InspectorError, NotFoundError
from ..storage.models import Product, ReferenceImage
from ..storage.workspace import Workspace
from .records import ProductInfo

MAX_NAME = 120


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InspectorError("product name is empty")
    if len(name) > MAX_NAME:
        raise InspectorError(f"product name is longer than {MAX_NAME} characters")
    if any(c in name for c in "/\\\0"):
        raise InspectorError("product name may not contain / or \\")
    return name


def get_product_row(session: Session, name: str) -> Product:
    product = session.scalar(select(Product).where(Product.name == name))
    if product is None:
        names = session.scalars(select(Product.name).order_by(Product.name)).all()
        hint = f"; known products: {', '.join(names)}" if names else "; create it with `inspector products add NAME`"
        raise NotFoundError(f"unknown product '{name}'{hint}")
    return product


def _info(session: Session, p: Product) -> ProductInfo:
    n_refs = session.scalar(select(func.count()).select_from(ReferenceImage)
                            .where(ReferenceImage.product_id == p.id)) or 0
    return ProductInfo(id=p.id, name=p.name, description=p.description, tags=dict(p.tags or {}),
                       defect_words=list(p.defect_words or []), engine=p.engine,
                       engine_settings=dict(p.engine_settings or {}), threshold=p.threshold,
                       target_frr=p.target_frr, state_path=p.state_path,
                       state_version=p.state_version, n_references=int(n_refs),
                       created_at=p.created_at)


def create_product(ws: Workspace, name: str, description: str = "",
                   tags: Optional[dict[str, Any]] = None, defect_words: Optional[list[str]] = None,
                   engine: str = "standalone") -> ProductInfo:
    name = _clean_name(name)
    with ws.session() as s:
        if s.scalar(select(Product.id).where(Product.name == name)) is not None:
            raise ConflictError(f"a product named '{name}' already exists")
        p = Product(name=name, description=description, tags=dict(tags or {}),
                    defect_words=list(defect_words or []), engine=engine, engine_settings={},
                    target_frr=0.01, state_version=0)
        s.add(p)
        s.flush()
        return _info(s, p)


def list_products(ws: Workspace) -> list[ProductInfo]:
    with ws.session() as s:
        return [_info(s, p) for p in s.scalars(select(Product).order_by(Product.name))]


def get_product(ws: Workspace, name: str) -> ProductInfo:
    with ws.session() as s:
        return _info(s, get_product_row(s, name))


def rename_product(ws: Workspace, name: str, new_name: str) -> ProductInfo:
    new_name = _clean_name(new_name)
    with ws.session() as s:
        p = get_product_row(s, name)
        if new_name != name and s.scalar(select(Product.id).where(Product.name == new_name)):
            raise ConflictError(f"a product named '{new_name}' already exists")
        p.name = new_name
        s.flush()
        return _info(s, p)


def update_product(ws: Workspace, name: str, **fields: Any) -> ProductInfo:
    """Update description, tags, defect_words, engine, engine_settings, threshold or target_frr."""
    allowed = {"description", "tags", "defect_words", "engine", "engine_settings", "threshold",
               "target_frr", "state_path", "state_version"}
    unknown = set(fields) - allowed
    if unknown:
        raise InspectorError(f"cannot update product field(s): {', '.join(sorted(unknown))}")
    if "target_frr" in fields and not 0.0 < float(fields["target_frr"]) < 0.5:
        raise InspectorError("target false-reject rate must be between 0 and 0.5 (e.g. 0.01 for 1%)")
    with ws.session() as s:
        p = get_product_row(s, name)
        for key, value in fields.items():
            setattr(p, key, value)
        s.flush()
        return _info(s, p)


def delete_product(ws: Workspace, name: str, confirm: str) -> None:
    """Delete a product, its records and files. `confirm` must repeat the name exactly."""
    if confirm != name:
        raise InspectorError(f"to delete product '{name}', confirm by typing its name exactly")
    with ws.session() as s:
        p = get_product_row(s, name)
        product_id = p.id
        s.delete(p)
    # Rows are gone first: a crash here leaves unreferenced files, never rows without files.
    ws.remove_product_files(product_id)
