"""`roles set-password|on|off|status`, `audit`: operator/engineer roles and the audit trail."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Optional

from ..core.errors import InspectorError
from ..core.names import safe_display as shown
from ..services import audit as audit_svc
from ..services import roles as roles_svc
from ..services.audit import Actor
from ..storage.workspace import Workspace
from .common import check_output_file, open_ws, positive_int


def _credential(prompt: str = "engineer password: ") -> Optional[str]:
    """The engineer password from INSPECTOR_ENGINEER_PASSWORD, else asked on a terminal, else None."""
    env = os.environ.get(roles_svc.ENV_PASSWORD)
    if env:
        return env
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return None


def engineer(ws: Workspace) -> Actor:
    """The actor of a changing command: with roles on, only after the engineer password (checked
    before anything changes); with roles off, the OS user without a role."""
    if not roles_svc.roles_enabled(ws):
        return audit_svc.default_actor()
    return roles_svc.require_engineer(ws, _credential())


def cmd_set_password(args: argparse.Namespace) -> int:
    ws = open_ws(args)
    current = None
    if roles_svc.has_password(ws):
        current = _credential("current engineer password: ")
        if not roles_svc.check_password(ws, current):
            raise InspectorError(roles_svc.WRONG_PASSWORD if current else roles_svc.NEEDS_ENGINEER)
    new = os.environ.get("INSPECTOR_NEW_ENGINEER_PASSWORD")
    if not new:
        if not sys.stdin.isatty():
            raise InspectorError("the new engineer password is asked on a terminal — run this in one, "
                                 "or set INSPECTOR_NEW_ENGINEER_PASSWORD (nothing was changed)")
        new = getpass.getpass("new engineer password: ")
        if getpass.getpass("again: ") != new:
            raise InspectorError("the two passwords differ — try again (nothing was changed)")
    roles_svc.set_password(ws, new, current=current)
    print("engineer password set" + ("" if roles_svc.roles_enabled(ws) else
                                     "; turn roles on with `inspector roles on`"))
    return 0


def cmd_roles_on(args: argparse.Namespace) -> int:
    ws = open_ws(args)
    changed = roles_svc.set_roles_enabled(ws, True, audit_svc.default_actor())
    print("roles on: changes need the engineer password" if changed else "roles were already on")
    return 0


def cmd_roles_off(args: argparse.Namespace) -> int:
    ws = open_ws(args)
    actor = engineer(ws)  # an operator must not switch the roles off
    changed = roles_svc.set_roles_enabled(ws, False, actor)
    print("roles off: anyone may change recipes and thresholds" if changed else "roles were already off")
    return 0


def cmd_roles_status(args: argparse.Namespace) -> int:
    ws = open_ws(args)
    print(f"roles:             {'on' if roles_svc.roles_enabled(ws) else 'off'}")
    print(f"engineer password: {'set' if roles_svc.has_password(ws) else 'not set'}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    out = check_output_file(args.csv, "audit CSV", "audit.csv") if args.csv else None
    ws = open_ws(args)
    rows = audit_svc.list_audit(ws, args.product, limit=args.limit)
    if out is not None:
        audit_svc.export_audit_csv(rows, out)
        print(f"wrote {len(rows)} audit row(s) to {shown(out)}")
        return 0
    if not rows:
        print("no changes recorded yet")
        return 0
    for r in rows:
        who = f"{r.user}@{r.station}" + (f" ({r.role})" if r.role else "")
        print(f"{r.created_at:%Y-%m-%d %H:%M:%S}Z  {shown(who):<28} {shown(r.product_name) or '-':<14} "
              f"{r.what:<18} {shown(r.old_value)[:40]} -> {shown(r.new_value)[:40]}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("roles", help="operator/engineer roles and the engineer password").add_subparsers(
        dest="action", required=True)
    r.add_parser("set-password", help="set (or change) the engineer password").set_defaults(func=cmd_set_password)
    r.add_parser("on", help="changes need the engineer password (a factory station)").set_defaults(func=cmd_roles_on)
    r.add_parser("off", help="anyone may change (a desk); needs the engineer password").set_defaults(
        func=cmd_roles_off)
    r.add_parser("status", help="show whether roles are on").set_defaults(func=cmd_roles_status)

    p = sub.add_parser("audit", help="who changed which recipe, threshold or setting, and when")
    p.add_argument("product", nargs="?", help="only this product's changes")
    p.add_argument("--csv", metavar="FILE", help="write the rows as CSV instead of printing them")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N", help="only the newest N rows")
    p.set_defaults(func=cmd_audit)
