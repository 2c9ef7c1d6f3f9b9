"""Shared fixtures: a temporary workspace, the CLI runner, real-data location."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# ../shared next to the checkout; a clone elsewhere (CI) falls back to the workstation's copy.
_CANDIDATES = [Path(os.environ["INSPECTOR_REAL_DATA"])] if os.environ.get("INSPECTOR_REAL_DATA") else []
_CANDIDATES += [Path(__file__).resolve().parents[2] / "shared" / "data" / "real",
                Path("/work/shared/data/real")]
REAL_DATA = next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])


@pytest.fixture
def real_data() -> Path:
    if not (REAL_DATA / "cookie" / "train" / "good").is_dir():
        pytest.skip(f"real data not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture
def ws(tmp_path):
    from inspector.storage.workspace import init_workspace

    workspace = init_workspace(tmp_path / "ws")
    yield workspace
    workspace.close()


@pytest.fixture
def cli(tmp_path, capsys):
    """Run `inspector -w <tmp ws> ...` in-process; returns (exit code, stdout, stderr)."""
    from inspector.cli import main

    ws_dir = tmp_path / "cli-ws"

    def run(*args: str, workspace: Path | None = None) -> tuple[int, str, str]:
        code = main(["-w", str(workspace or ws_dir), *map(str, args)])
        out = capsys.readouterr()
        return code, out.out, out.err

    run.workspace = ws_dir
    return run
