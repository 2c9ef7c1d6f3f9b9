"""Create, list, show, rename, update and delete products."""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..core.errors import ConflictError, InspectorError, NotFoundError
from ..core.names import MAX_NAME, clean_name, name_key, safe_display  # noqa: F401 - MAX_NAME re-exported
from ..storage.models import Product, ReferenceImage
from ..storage.workspace import Workspace
from . import audit
from .audit import Actor
from .records import ProductInfo

# Product fields whose changes the audit trail keeps (state_path moves with state_version).
AUDITED = {"description": "description", "tags": "tags", "defect_words": "defect words",
           "engine": "engine", "engine_settings": "engine settings", "threshold": "threshold",
           "target_frr": "target FRR", "state_version": "fitted state"}


def check_engine(engine: str) -> str:
    """`engine` when the registry knows it; otherwise an error listing the known ones."""
    from ..engines.registry import ENGINES

    if engine not in ENGINES:
        raise InspectorError(f"unknown engine '{safe_display(engine)}' — use one of: {', '.join(ENGINES)}")
    return engine


def check_engine_runs(engine: str, settings: Optional[dict[str, Any]] = None) -> None:
    """Refuse, before any work, an engine that cannot run here (e.g. VLAD without its weights)."""
    from ..core.errors import EngineUnavailable
    from ..engines.registry import get_engine

    status = get_engine(check_engine(engine)).availability(dict(settings or {}))
    if not status.ok:
        raise EngineUnavailable(f"engine '{engine}' is not available: {status.reason}")


def _same_name(session: Session, name: str, exclude_id: Optional[int] = None) -> Optional[Product]:
    """The product whose name has the same key as `name` (products are few: compare them all)."""
    key = name_key(name)
    for p in session.scalars(select(Product).order_by(Product.id)):
        if p.id != exclude_id and name_key(p.name) == key:
            return p
    return None


def _check_new_name(session: Session, name: str, exclude_id: Optional[int] = None) -> str:
    """The cleaned name, refused when another product's name has the same key."""
    other = _same_name(session, name, exclude_id)
    if other is not None:
        shown = safe_display(other.name)
        why = "" if other.name == name.strip() else \
            " (names that differ only in case, accent encoding or invisible characters are the same)"
        raise ConflictError(f"a product named '{shown}' already exists{why} — choose another name, "
                            f"or use `inspector products show \"{shown}\"`")
    return clean_name(name)


def get_product_row(session: Session, name: str) -> Product:
    """The product named `name`, in any spelling with the same key (case, NFC/NFD, invisible)."""
    product = session.scalar(select(Product).where(Product.name == name))
    if product is not None:
        return product
    key = name_key(name)
    rows = session.scalars(select(Product).order_by(Product.name)).all()
    matches = [p for p in rows if name_key(p.name) == key]
    if len(matches) == 1:
        return matches[0]
    if matches:  # an older workspace may hold two such names: ask for the exact one
        raise NotFoundError(f"'{safe_display(name)}' matches several products "
                            f"({', '.join(safe_display(p.name) for p in matches)}) — type the exact name")
    known = [safe_display(p.name) for p in rows]
    hint = f" — known products: {', '.join(known)}" if known else " — create it with `inspector products add NAME`"
    raise NotFoundError(f"unknown product '{safe_display(name)}'{hint}")


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
                   engine: str = "standalone", actor: Optional[Actor] = None) -> ProductInfo:
    check_engine(engine)
    with ws.session() as s:
        name = _check_new_name(s, name)
        p = Product(name=name, description=description, tags=dict(tags or {}),
                    defect_words=list(defect_words or []), engine=engine, engine_settings={},
                    target_frr=0.01, state_version=0)
        s.add(p)
        s.flush()
        audit.record(s, actor, "product created", None,
                     {"name": p.name, "description": p.description, "tags": p.tags,
                      "defect_words": p.defect_words, "engine": p.engine}, product=p)
        return _info(s, p)


def list_products(ws: Workspace) -> list[ProductInfo]:
    with ws.session() as s:
        return [_info(s, p) for p in s.scalars(select(Product).order_by(Product.name))]


def get_product(ws: Workspace, name: str) -> ProductInfo:
    with ws.session() as s:
        return _info(s, get_product_row(s, name))


def rename_product(ws: Workspace, name: str, new_name: str, actor: Optional[Actor] = None) -> ProductInfo:
    with ws.session() as s:
        p = get_product_row(s, name)
        old = p.name
        p.name = _check_new_name(s, new_name, exclude_id=p.id)  # "cookie" -> "Cookie" is allowed
        s.flush()
        if p.name != old:
            audit.record(s, actor, "name", old, p.name, product=p)
        return _info(s, p)


def update_product(ws: Workspace, name: str, actor: Optional[Actor] = None, **fields: Any) -> ProductInfo:
    """Update description, tags, defect_words, engine, engine_settings, threshold or target_frr;
    each changed field gets an audit row in the same transaction."""
    allowed = {"description", "tags", "defect_words", "engine", "engine_settings", "threshold",
               "target_frr", "state_path", "state_version"}
    unknown = set(fields) - allowed
    if unknown:
        raise InspectorError(f"cannot update product field(s): {', '.join(sorted(unknown))}")
    if "target_frr" in fields and not 0.0 < float(fields["target_frr"]) < 0.5:
        raise InspectorError("target false-reject rate must be between 0 and 0.5 (e.g. 0.01 for 1%)")
    if "engine" in fields:
        check_engine(fields["engine"])
    with ws.session() as s:
        p = get_product_row(s, name)
        for key, value in fields.items():
            old = getattr(p, key)
            setattr(p, key, value)
            if key in AUDITED and old != value:
                audit.record(s, actor, AUDITED[key], old, value, product=p)
        s.flush()
        return _info(s, p)


def delete_product(ws: Workspace, name: str, confirm: str, actor: Optional[Actor] = None) -> None:
    """Delete a product, its records and files. `confirm` must repeat the name exactly, as
    given or as stored ("COOKIE" finds product "Cookie"; either spelling confirms)."""
    with ws.session() as s:
        p = get_product_row(s, name)
        if confirm not in (name, p.name):
            raise InspectorError(f"the confirmation does not match '{safe_display(p.name)}' — "
                                 "type the product name exactly to delete it")
        product_id = p.id
        audit.record(s, actor, "product deleted", {"name": p.name, "references": len(p.references)},
                     None, product=p)
        s.delete(p)
    # Rows are gone first: a crash here leaves unreferenced files, never rows without files.
    ws.remove_product_files(product_id)
