"""Operator and engineer roles: the engineer password (a salted scrypt hash) and roles on/off.

With roles on, changing a recipe, references, a threshold, an engine or a setting needs the
engineer password; inspecting and flagging verdicts do not. A workspace runs without roles
(a desk, the demo) until `inspector roles on`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import replace
from typing import Optional

from ..core.errors import InspectorError
from ..storage.models import WorkspaceSetting
from ..storage.workspace import Workspace
from . import audit
from .audit import Actor

ROLES_KEY = "roles_enabled"
PASSWORD_KEY = "engineer_password"
ENV_PASSWORD = "INSPECTOR_ENGINEER_PASSWORD"
MIN_PASSWORD = 4
_N, _R, _P = 2 ** 14, 8, 1  # scrypt cost: ~50 ms and 16 MiB per check

NEEDS_ENGINEER = (f"this change needs engineer mode — set {ENV_PASSWORD} or run it from a terminal "
                  "to be asked for the engineer password (nothing was changed)")
WRONG_PASSWORD = "wrong engineer password — nothing was changed"


def hash_password(password: str, salt: Optional[bytes] = None) -> str:
    """'scrypt$n$r$p$salt$hash' (hex) with a random 16-byte salt."""
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def _get(ws: Workspace, key: str) -> Optional[str]:
    with ws.session() as s:
        row = s.get(WorkspaceSetting, key)
        return None if row is None else row.value


def roles_enabled(ws: Workspace) -> bool:
    return _get(ws, ROLES_KEY) == "on"


def has_password(ws: Workspace) -> bool:
    return bool(_get(ws, PASSWORD_KEY))


def check_password(ws: Workspace, password: Optional[str]) -> bool:
    stored = _get(ws, PASSWORD_KEY)
    return bool(stored) and password is not None and verify_password(password, stored)


def set_password(ws: Workspace, new_password: str, current: Optional[str] = None,
                 actor: Optional[Actor] = None) -> None:
    """Set the engineer password; replacing one needs the current password."""
    if len(new_password) < MIN_PASSWORD:
        raise InspectorError(f"the engineer password must have at least {MIN_PASSWORD} characters "
                             "— choose a longer one (nothing was changed)")
    had = has_password(ws)
    if had and not check_password(ws, current):
        raise InspectorError("replacing the engineer password needs the current one — "
                             f"{'it was wrong; ' if current else ''}set {ENV_PASSWORD} to it or type it "
                             "when asked (nothing was changed)")
    hashed = hash_password(new_password)
    actor = replace(actor or audit.default_actor(), role="engineer")
    with ws.session() as s:
        row = s.get(WorkspaceSetting, PASSWORD_KEY)
        if row is None:
            s.add(WorkspaceSetting(key=PASSWORD_KEY, value=hashed))
        else:
            row.value = hashed
        audit.record(s, actor, "engineer password", "set" if had else "not set",
                     "changed" if had else "set")  # never the hash itself


def set_roles_enabled(ws: Workspace, enabled: bool, actor: Optional[Actor] = None) -> bool:
    """Turn roles on or off; True when it changed. On needs a password set first."""
    if enabled and not has_password(ws):
        raise InspectorError("set the engineer password first with `inspector roles set-password` "
                             "(nothing was changed)")
    value = "on" if enabled else "off"
    with ws.session() as s:
        row = s.get(WorkspaceSetting, ROLES_KEY)
        old = row.value if row is not None else "off"
        if old == value:
            return False
        if row is None:
            s.add(WorkspaceSetting(key=ROLES_KEY, value=value))
        else:
            row.value = value
        audit.record(s, actor, "roles", old, value)
    return True


def require_engineer(ws: Workspace, credential: Optional[str], actor: Optional[Actor] = None) -> Actor:
    """The actor for a change: as given when roles are off; with roles on, the engineer only
    after the right password (else an InspectorError, before anything changed)."""
    actor = actor or audit.default_actor()
    if not roles_enabled(ws):
        return actor
    if not credential:
        raise InspectorError(NEEDS_ENGINEER)
    if not check_password(ws, credential):
        raise InspectorError(WRONG_PASSWORD)
    return replace(actor, role="engineer")
