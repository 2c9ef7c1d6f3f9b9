"""Helpers shared by CLI commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..storage.workspace import Workspace, default_workspace_dir, describe_cleanup, open_workspace


def workspace_dir(args: argparse.Namespace) -> Path:
    return Path(args.workspace).expanduser() if args.workspace else default_workspace_dir()


def open_ws(args: argparse.Namespace) -> Workspace:
    ws = open_workspace(workspace_dir(args))
    if ws.cleaned:  # leftovers of an interrupted write, removed on opening: say so in one line
        print(describe_cleanup(ws.cleaned), file=sys.stderr)
    return ws


def fmt_threshold(value: float | None) -> str:
    return "not calibrated" if value is None else f"{value:.4f}"
