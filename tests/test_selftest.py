"""`inspector --self-test`: the check an installed bundle runs (CI runs it in the CPU bundle)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_self_test_passes_in_a_fresh_process_and_leaves_nothing_behind(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INSPECTOR_", "QT_QPA"))}
    env.update(PYTHONPATH=str(ROOT), HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "inspector", "--self-test"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("PASS "), proc.stdout
    for step in ("standalone", "database", "gui", "open_clip", "segment_anything", "transformers", "diffusers"):
        assert f" {step}=" in lines[0]
    assert not list(tmp_path.glob("inspector-selftest-*"))  # its temporary folder is removed
    home = tmp_path / "home"  # and the user's settings, workspace and models are not touched
    assert not (home / ".config" / "inspector").exists() and not (home / ".local" / "share" / "inspector").exists()


def test_self_test_names_the_failing_step_and_exits_1(monkeypatch, capsys):
    from inspector import selftest
    from inspector.cli import main

    for var in ("QT_QPA_PLATFORM", "INSPECTOR_SETTINGS", "INSPECTOR_MODELS_DIR", "INSPECTOR_WORKSPACE",
                "HF_HUB_CACHE", "HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY"):
        monkeypatch.setenv(var, os.environ.get(var, ""))  # restored after the test
    # the database step alone: there is no workspace to reopen, so it fails with the reason
    monkeypatch.setattr(selftest, "STEPS", [("database", selftest._database)])
    assert main(["--self-test"]) == 1
    out = capsys.readouterr().out.strip()
    assert out.startswith("FAIL database: WorkspaceError: no workspace at "), out
