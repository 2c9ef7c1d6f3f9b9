"""CLI end to end in a temporary workspace, and every bad input: clear message, exit 1, no change."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import tree_snapshot, write_png


def test_version_and_help():
    out = subprocess.run([sys.executable, "-m", "inspector", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("inspector ")


def test_end_to_end(cli, tmp_path):
    assert cli("workspace", "init")[0] == 0
    code, out, _ = cli("products", "add", "washer", "--tag", "material=steel", "--defect", "scratch")
    assert code == 0 and "created" in out
    folder = tmp_path / "refs"
    for i in range(3):
        write_png(folder / f"r{i}.png", seed=i)
    code, out, _ = cli("refs", "add", "washer", folder)
    assert code == 0 and "added 3" in out
    code, out, _ = cli("products", "list")
    assert "washer" in out and " 3 " in out
    code, out, _ = cli("products", "show", "washer")
    assert "material=steel" in out and "r1.png" in out
    code, out, _ = cli("history", "washer")
    assert code == 0 and "no inspections" in out
    code, out, _ = cli("history", "washer", "--verdict", "NG", "--csv", tmp_path / "h.csv")
    assert code == 0 and (tmp_path / "h.csv").read_text().startswith("id,time,product")
    code, out, _ = cli("products", "rename", "washer", "washer-m8")
    assert code == 0
    code, out, err = cli("products", "delete", "washer-m8", "--confirm", "washer-m8")
    assert code == 0 and not any((cli.workspace / "products").iterdir())


@pytest.fixture
def populated(cli, tmp_path):
    cli("workspace", "init")
    cli("products", "add", "p")
    cli("refs", "add", "p", write_png(tmp_path / "ok.png"))
    return cli


def _bad_files(tmp_path):
    good = write_png(tmp_path / "src.png", size=(80, 60))
    data = good.read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 3])
    (tmp_path / "text.png").write_text("not an image")
    from PIL import Image
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "tiny.png")
    return {
        "missing": (tmp_path / "nope.png", "no such file"),
        "truncated": (tmp_path / "trunc.png", "corrupt or truncated"),
        "not image": (tmp_path / "text.png", "not an image"),
        "1x1": (tmp_path / "tiny.png", "too small"),
        "empty folder": (tmp_path / "emptydir", "has no PNG"),
    }


def test_bad_inputs_change_nothing(populated, tmp_path):
    cli = populated
    (tmp_path / "emptydir").mkdir()
    cases = [
        (("products", "add", "p"), "already exists"),
        (("products", "show", "ghost"), "unknown product 'ghost'"),
        (("refs", "add", "ghost", tmp_path / "ok.png"), "unknown product"),
        (("products", "delete", "p", "--confirm", "P"), "confirm"),
        (("history", "p", "--since", "yesterday"), "not a date"),
        (("history", "p", "--csv", tmp_path), "is a folder"),
    ]
    for name, (path, msg) in _bad_files(tmp_path).items():
        cases.append((("refs", "add", "p", tmp_path / "ok.png", path), msg))
    before = tree_snapshot(cli.workspace)
    for args, msg in cases:
        code, out, err = cli(*args)
        assert code == 1, args
        assert msg in err, (args, err)
        assert tree_snapshot(cli.workspace) == before, args


def test_image_too_large(populated, tmp_path, monkeypatch):
    import inspector.core.image_io as io
    monkeypatch.setattr(io, "MAX_PIXELS", 1000)
    monkeypatch.setattr(io.load_image, "__defaults__", (1000,))
    code, _, err = populated("refs", "add", "p", write_png(tmp_path / "big.png", size=(100, 100)))
    assert code == 1 and "too large" in err


def test_no_workspace_and_unwritable(cli, tmp_path):
    code, _, err = cli("products", "list")
    assert code == 1 and "workspace init" in err
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    code, _, err = cli("workspace", "init", workspace=ro / "ws")
    assert code == 1 and "not writable" in err


def test_unwritable_workspace_as_root_via_file(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = cli("workspace", "init", workspace=blocker / "ws")
    assert code == 1 and "not writable" in err


def test_os_and_database_errors_become_messages(tmp_path):
    import errno
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from inspector.core.errors import user_message

    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))
    assert user_message(full).startswith("the disk is full") and " — " in user_message(full)
    long_name = OSError(errno.ENAMETOOLONG, "File name too long", "a" * 300)
    assert "too long" in user_message(long_name)
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    assert "busy" in user_message(locked)
    assert "damaged" in user_message(sqlite3.DatabaseError("database disk image is malformed"))
    assert user_message(ValueError("a programming error")) is None
