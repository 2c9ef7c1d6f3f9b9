"""Layering rules from DESIGN.md, enforced."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "inspector"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_nothing_outside_gui_imports_qt():
    offenders = [str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
                 if "gui" not in p.relative_to(PKG).parts[:1]
                 and _imports(p) & {"PySide6", "shiboken6", "PyQt5", "PyQt6", "pytestqt"}]
    assert offenders == []


def test_cli_start_does_not_import_heavy_libraries():
    code = ("import sys, inspector.cli as c; c.build_parser(); "
            "heavy = {'torch','PySide6','transformers','diffusers','open_clip','segment_anything','cv2'}; "
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
