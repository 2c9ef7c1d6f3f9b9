"""Shared tools of the fault-injection tests (tests/test_faults_*.py): a workspace with a fitted
product, a CLI child process that can be killed at a named fault point, and the checks that a
workspace is whole after a failure."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

# The real CLI, with the fast `meandiff` test engine registered (as tests/test_eval_inspect_cli.py does).
CHILD = textwrap.dedent("""
    import sys
    import inspector.engines.registry as registry
    registry.ENGINES["meandiff"] = registry.EngineSpec(
        "meandiff", "test", "test double", "test_calibration:MeanDiffModel",
        registry.Requirements(), lambda s: registry.Availability(True))
    from inspector.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def register_meandiff(monkeypatch) -> None:  # noqa: ANN001
    import inspector.engines.registry as registry

    spec = registry.EngineSpec("meandiff", "test", "test double", "test_calibration:MeanDiffModel",
                               registry.Requirements(), lambda s: registry.Availability(True))
    monkeypatch.setitem(registry.ENGINES, "meandiff", spec)


def child_env(fault: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "INSPECTOR_FAULT"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS)])
    env["QT_QPA_PLATFORM"] = "offscreen"
    if fault:
        env["INSPECTOR_FAULT"] = fault
    return env


def cli_child(ws: Path, *args: str, fault: str | None = None) -> subprocess.Popen:
    """Start `inspector -w ws ARGS` in a child process (stdout/stderr piped, text)."""
    return subprocess.Popen([sys.executable, "-c", CHILD, "-w", str(ws), *map(str, args)],
                            env=child_env(fault), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def run_cli(ws: Path, *args: str, fault: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = cli_child(ws, *args, fault=fault)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def part_image(path: Path, seed: int, defect: bool = False) -> Path:
    """A small smooth grey part (64x48); with `defect`, a bright square the test engine flags."""
    rng = np.random.default_rng(seed)
    a = np.clip(120 + rng.normal(0, 3, (48, 64, 3)), 0, 255).astype(np.uint8)
    if defect:
        a[10:20, 30:40] = 250
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return path


def make_fitted_workspace(root: Path, src: Path, monkeypatch) -> Path:  # noqa: ANN001
    """Workspace with product 'p' (meandiff engine, 4 references, fitted v1) and one NG inspection;
    `src` gets good/ (4 more good parts) and bad/ (2 parts with a defect) for later commands."""
    from inspector.services import engine_state, products, references
    from inspector.services.inspect import inspect_paths
    from inspector.storage.workspace import init_workspace

    register_meandiff(monkeypatch)
    for i in range(4):
        part_image(src / "refs" / f"r{i}.png", i)
        part_image(src / "good" / f"g{i}.png", 100 + i)
    for i in range(2):
        part_image(src / "bad" / f"b{i}.png", 200 + i, defect=True)
    ws = init_workspace(root)
    products.create_product(ws, "p", engine="meandiff")
    references.add_references(ws, "p", [src / "refs"])
    det = engine_state.fit_product(ws, "p")
    list(inspect_paths(ws, "p", [src / "bad" / "b0.png"], det))
    ws.close()
    return root


def integrity_ok(root: Path) -> None:
    con = sqlite3.connect(root / "inspector.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        con.close()


def rows_have_files(root: Path) -> int:
    """Every row's file exists (references, inspection images, region masks, fitted states);
    returns how many were checked."""
    con = sqlite3.connect(root / "inspector.db")
    try:
        rels = [r for (r,) in con.execute(
            "SELECT path FROM reference_images UNION ALL SELECT image_path FROM inspections "
            "UNION ALL SELECT mask_path FROM regions UNION ALL SELECT state_path FROM products") if r]
    finally:
        con.close()
    missing = [r for r in rels if not (root / r).exists()]
    assert not missing, f"rows point at missing files: {missing}"
    for rel in rels:
        if (root / rel).is_dir():
            assert (root / rel / "meta.json").is_file() and (root / rel / "calibration.json").is_file()
    return len(rels)


def leftovers(root: Path) -> list[str]:
    """Temp files/folders (in .tmp/ or anywhere under products/) and state versions above the
    one their product's row names, except a draft committed by state/DRAFT naming it."""
    found = [p.relative_to(root).as_posix() for p in (root / "products").rglob(".tmp-*")]
    found += [p.relative_to(root).as_posix() for p in (root / ".tmp").glob("*")]
    con = sqlite3.connect(root / "inspector.db")
    try:
        states = {r for (r,) in con.execute("SELECT state_path FROM products") if r}
        versions = dict(con.execute("SELECT id, state_version FROM products").fetchall())
    finally:
        con.close()
    for state in (root / "products").glob("*/state/v*"):
        pid = int(state.parent.parent.name)
        draft = state.parent / "DRAFT"
        if draft.is_file() and draft.read_text().strip() == state.name[1:]:
            continue  # a committed draft (services/engine_state.py)
        if state.relative_to(root).as_posix() not in states and int(state.name[1:]) > versions.get(pid, 0):
            found.append(state.relative_to(root).as_posix())
    return found


def unreferenced_files(root: Path) -> list[str]:
    """Reference/inspection files that no row references."""
    con = sqlite3.connect(root / "inspector.db")
    try:
        used = {r for (r,) in con.execute(
            "SELECT path FROM reference_images UNION SELECT image_path FROM inspections "
            "UNION SELECT mask_path FROM regions") if r}
    finally:
        con.close()
    files = [p for sub in ("references", "inspections") for p in (root / "products").glob(f"*/{sub}/**/*")
             if p.is_file()]
    return sorted(p.relative_to(root).as_posix() for p in files if p.relative_to(root).as_posix() not in used)


@pytest.fixture
def fitted_workspace(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    """(a fitted workspace on the meandiff test engine, the folder of its source images)."""
    src = tmp_path / "src"
    return make_fitted_workspace(tmp_path / "ws", src, monkeypatch), src


def run_cli_here(capsys, root, *args):  # noqa: ANN001, ANN201
    """`inspector -w ROOT ARGS` in-process: (exit code, stdout, stderr)."""
    from inspector.cli import main

    code = main(["-w", str(root), *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err
