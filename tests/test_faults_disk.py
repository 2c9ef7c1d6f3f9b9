"""A full disk and read-only folders: a clear message naming the folder and the fix, no file
left without its row, nothing half-written, and read-only commands keep working.

The full disk is real where the machine allows mounting a small tmpfs (root on Linux; CI runs
as root), and injected (ENOSPC through the `write.data` fault point) everywhere. Read-only
folders are injected (EACCES through `write.open`), because root writes through chmod; the real
chmod variant runs only as a normal user."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime

import pytest

from fault_tools import (fitted_workspace, integrity_ok, leftovers, make_fitted_workspace, part_image,
                         register_meandiff, rows_have_files, run_cli_here, unreferenced_files)
from helpers import tree_snapshot


fitted = fitted_workspace  # the fixture, under this file's name
_cli = run_cli_here


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs, where mounting is permitted; otherwise skipped (the injected tests remain)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if shutil.which("mount") is None or os.name != "posix":
        pytest.skip("no mount command here; ENOSPC is injected by the other tests")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"mounting a small tmpfs is not permitted here ({res.stderr.strip()}); "
                    "ENOSPC is injected by the other tests")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(folder) -> None:  # noqa: ANN001
    with open(folder / "filler", "wb", buffering=0) as f:
        for chunk in (65536, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                pass


def _files(root):  # noqa: ANN001, ANN202
    """Every file's bytes, the database file's included (on a full disk SQLite cannot dump it)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".locks" not in p.parts and not p.name.endswith(("-wal", "-shm"))}


def test_real_full_disk(small_disk, tmp_path, capsys, monkeypatch):
    root = make_fitted_workspace(small_disk / "ws", tmp_path / "src", monkeypatch)
    src = tmp_path / "src"
    _fill(small_disk)
    assert shutil.disk_usage(small_disk).free < 64 * 1024

    # Reading still works: nothing in opening needs a write.
    code, out, err = _cli(capsys, root, "products", "list")
    assert code == 0 and "p " in out, err
    code, out, err = _cli(capsys, root, "history")
    assert code == 0 and "1 inspection(s)" in out, err

    before = _files(root)
    for args in (["refs", "add", "p", src / "good"], ["inspect", "p", src / "bad", "--device", "cpu"],
                 ["fit", "p", "--device", "cpu"], ["products", "add", "q"]):
        code, out, err = _cli(capsys, root, *args)
        assert code == 1, (args, out, err)
        last = err.strip().splitlines()[-1]  # progress lines may come first
        assert last.startswith("error: ") and "full" in last and "free some space" in last, (args, err)
        assert "Traceback" not in err
    assert _files(root) == before

    # Space comes back: the workspace works as before.
    (small_disk / "filler").unlink()
    code, out, err = _cli(capsys, root, "refs", "add", "p", src / "good")
    assert code == 0 and "added 4" in out, err
    code, out, err = _cli(capsys, root, "inspect", "p", src / "bad", "--device", "cpu")
    assert code == 0, err
    integrity_ok(root)
    rows_have_files(root)
    assert unreferenced_files(root) == [] and leftovers(root) == []


def test_injected_full_disk_while_adding_references(fitted, monkeypatch):
    from inspector.core.errors import WorkspaceError
    from inspector.services import references
    from inspector.storage.workspace import open_workspace

    root, src = fitted
    ws = open_workspace(root)
    before = tree_snapshot(root)
    monkeypatch.setenv("INSPECTOR_FAULT", "write.data:enospc")
    with pytest.raises(WorkspaceError, match=r"cannot write to products/1/references .*the disk is full — "
                                             r"free some space.*\(g0.png was not added\)"):
        references.add_references(ws, "p", [src / "good"])
    ws.close()
    assert tree_snapshot(root) == before


def test_injected_full_disk_after_the_image_of_an_inspection(fitted, monkeypatch):
    """The image is stored, then the disk fills: the image is removed again, nothing recorded."""
    from inspector.core.errors import WorkspaceError
    from inspector.services import engine_state
    from inspector.services.inspect import inspect_paths
    from inspector.storage.workspace import open_workspace

    root, src = fitted
    register_meandiff(monkeypatch)
    ws = open_workspace(root)
    det = engine_state.load_detector(ws, "p")
    before = tree_snapshot(root)
    monkeypatch.setenv("INSPECTOR_FAULT", "inspection.after_image:enospc")
    with pytest.raises(WorkspaceError, match=r"products/1/inspections/.*disk is full.*b1.png was not recorded"):
        list(inspect_paths(ws, "p", [src / "bad" / "b1.png"], det))
    ws.close()
    assert tree_snapshot(root) == before
    assert unreferenced_files(root) == []


def test_injected_full_disk_while_fitting(fitted, monkeypatch):
    from inspector.core.errors import WorkspaceError
    from inspector.services import engine_state
    from inspector.storage.workspace import open_workspace

    root, _ = fitted
    register_meandiff(monkeypatch)
    ws = open_workspace(root)
    before = tree_snapshot(root)
    monkeypatch.setenv("INSPECTOR_FAULT", "write.data:enospc")
    with pytest.raises(WorkspaceError, match=r"products/1/state .*disk is full.*fitted state was not changed"):
        engine_state.fit_product(ws, "p")
    ws.close()
    assert tree_snapshot(root) == before


@pytest.mark.parametrize("command,folder", [
    (["refs", "add", "p", "{src}/good"], "products/1/references"),
    (["fit", "p", "--device", "cpu"], "products/1/state"),
    (["inspect", "p", "{src}/bad/b1.png", "--device", "cpu"], "products/1/inspections/{day}"),
    (["threshold", "p", "--frr", "2"], "products/1/state/v1"),
])
def test_read_only_folder_is_named_with_the_fix(fitted, capsys, monkeypatch, command, folder):
    root, src = fitted
    register_meandiff(monkeypatch)
    folder = folder.format(day=datetime.now().strftime("%Y-%m-%d"))
    before = tree_snapshot(root)
    monkeypatch.setenv("INSPECTOR_FAULT", "write.open:eacces")  # root writes through chmod
    code, out, err = _cli(capsys, root, *[a.format(src=src) for a in command])
    assert code == 1
    assert f"error: cannot write to {folder} in workspace" in err, err
    assert "permission denied — make" in err and "chmod" in err and "Traceback" not in err
    assert tree_snapshot(root) == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders; the injected variant above covers it")
def test_real_read_only_references_folder(fitted, capsys, monkeypatch):
    root, src = fitted
    folder = root / "products" / "1" / "references"
    folder.chmod(0o555)
    try:
        before = tree_snapshot(root)
        code, _, err = _cli(capsys, root, "refs", "add", "p", part_image(src / "new" / "n.png", 77))
        assert code == 1 and "cannot write to products/1/references" in err and "chmod" in err
        assert tree_snapshot(root) == before
    finally:
        folder.chmod(0o755)
