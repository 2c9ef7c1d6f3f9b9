"""Helpers shared by CLI commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..storage.workspace import Workspace, default_workspace_dir, open_workspace


def workspace_dir(args: argparse.Namespace) -> Path:
    return Path(args.workspace).expanduser() if args.workspace else default_workspace_dir()


def open_ws(args: argparse.Namespace) -> Workspace:
    return open_workspace(workspace_dir(args))


def fmt_threshold(value: float | None) -> str:
    return "not calibrated" if value is None else f"{value:.4f}"
