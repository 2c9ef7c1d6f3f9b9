"""The audit trail: who changed which recipe, threshold, reference or setting, when, old -> new.

Rows are added in the session of the change itself, so a change and its audit row commit
together (or neither does)."""

from __future__ import annotations

import csv
import getpass
import io
import json
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..core.image_io import atomic_write_bytes
from ..storage.models import AuditEntry, Product
from ..storage.workspace import Workspace

CSV_COLUMNS = ["time_utc", "role", "user", "station", "product_id", "product", "what", "old_value", "new_value"]


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers): the environment's word, else unknown
        return os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


@dataclass(frozen=True)
class Actor:
    """Who makes a change. role: "engineer", "operator", or "" when the workspace runs without roles."""
    role: str = ""
    user: str = field(default_factory=_os_user)
    station: str = field(default_factory=socket.gethostname)


_session_actor: Optional[Actor] = None  # set by the GUI: who is at the station, in which role


def set_default_actor(actor: Optional[Actor]) -> None:
    """The actor of changes made without one (the GUI sets it when the role changes)."""
    global _session_actor
    _session_actor = actor


def default_actor() -> Actor:
    return _session_actor if _session_actor is not None else Actor()


@dataclass
class AuditInfo:
    id: int
    created_at: datetime
    role: str
    user: str
    station: str
    product_id: Optional[int]
    product_name: str
    what: str
    old_value: str
    new_value: str


def as_text(value: Any) -> str:
    """A value as JSON text (a threshold, a tag dict, a reference file name)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def record(session: Session, actor: Optional[Actor], what: str, old: Any, new: Any,
           product: Optional[Product] = None, product_name: str = "",
           product_id: Optional[int] = None) -> AuditEntry:
    """Add one audit row to `session` (the change's own transaction)."""
    actor = actor or default_actor()
    row = AuditEntry(role=actor.role, user=actor.user[:120], station=actor.station[:120],
                     product_id=product.id if product is not None else product_id,
                     product_name=(product.name if product is not None else product_name)[:120],
                     what=what, old_value=as_text(old), new_value=as_text(new))
    session.add(row)
    return row


def _info(r: AuditEntry) -> AuditInfo:
    return AuditInfo(id=r.id, created_at=r.created_at, role=r.role, user=r.user, station=r.station,
                     product_id=r.product_id, product_name=r.product_name, what=r.what,
                     old_value=r.old_value, new_value=r.new_value)


def list_audit(ws: Workspace, product: Optional[str] = None, since: Optional[datetime] = None,
               until: Optional[datetime] = None, limit: Optional[int] = None) -> list[AuditInfo]:
    """Audit rows, newest first; `product` by name (also a deleted product's name)."""
    from ..core.errors import NotFoundError
    from .products import get_product_row

    with ws.session() as s:
        q = select(AuditEntry)
        if product is not None:
            try:
                p = get_product_row(s, product)
                q = q.where((AuditEntry.product_id == p.id) | (AuditEntry.product_name == p.name))
            except NotFoundError:  # a deleted product: its rows still carry the name
                q = q.where(AuditEntry.product_name == product)
        if since is not None:
            q = q.where(AuditEntry.created_at >= since)
        if until is not None:
            q = q.where(AuditEntry.created_at < until)
        q = q.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        if limit is not None:
            q = q.limit(limit)
        return [_info(r) for r in s.scalars(q)]


def count_audit(ws: Workspace, since: Optional[datetime] = None, until: Optional[datetime] = None) -> int:
    with ws.session() as s:
        q = select(func.count()).select_from(AuditEntry)
        if since is not None:
            q = q.where(AuditEntry.created_at >= since)
        if until is not None:
            q = q.where(AuditEntry.created_at < until)
        return int(s.scalar(q) or 0)


def audit_csv(rows: list[AuditInfo]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow([r.created_at.isoformat(timespec="seconds"), r.role, r.user, r.station,
                    "" if r.product_id is None else r.product_id, r.product_name, r.what,
                    r.old_value, r.new_value])
    return buf.getvalue()


def export_audit_csv(rows: list[AuditInfo], path: Path) -> Path:
    """Write the rows as CSV (temp + rename: a crash leaves the old file or the whole new one)."""
    path = Path(path)
    atomic_write_bytes(path, audit_csv(rows).encode("utf-8"))
    return path
