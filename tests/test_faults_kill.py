"""A real CLI process killed at every step of every files-then-row write (through the named
fault points of inspector/core/faults.py, not timing luck). After each kill: the database passes
`PRAGMA integrity_check`, every row's files exist, opening the workspace removes what the kill
left behind (and says so), and the next normal commands (add product, add refs, fit, inspect)
work."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from fault_tools import (cli_child, integrity_ok, leftovers, make_fitted_workspace, register_meandiff, rows_have_files,
                         run_cli)

# (fault point, command, whether the kill leaves something that opening must remove)
KILLS = {
    "refs: temp file created": ("write.data", ["refs", "add", "p", "{src}/good"], True),
    "refs: temp file written, not renamed": ("write.before_rename", ["refs", "add", "p", "{src}/good"], True),
    "refs: file stored, row not committed": ("refs.after_file", ["refs", "add", "p", "{src}/good"], False),
    "refs: row committed, next image not": ("refs.after_commit", ["refs", "add", "p", "{src}/good"], False),
    "inspect: temp image written": ("write.before_rename", ["inspect", "p", "{src}/bad", "--device", "cpu"], True),
    "inspect: image stored, masks not": ("inspection.after_image", ["inspect", "p", "{src}/bad", "--device", "cpu"], False),
    "inspect: files stored, row not": ("inspection.after_masks", ["inspect", "p", "{src}/bad", "--device", "cpu"], False),
    "inspect: row committed": ("inspection.after_commit", ["inspect", "p", "{src}/bad", "--device", "cpu"], False),
    "fit: state file half written": ("write.before_rename", ["fit", "p", "--device", "cpu"], True),
    "fit: state folder written, not renamed": ("state.after_write", ["fit", "p", "--device", "cpu"], True),
    "fit: state renamed, row not updated": ("state.after_rename", ["fit", "p", "--device", "cpu"], True),
    "fit: row updated, old state not pruned": ("state.after_row", ["fit", "p", "--device", "cpu"], False),
    "threshold: calibration half written": ("write.before_rename", ["threshold", "p", "--frr", "2"], True),
    "delete: rows gone, folder not": ("product_delete.after_rows", ["products", "delete", "p", "--confirm", "p"], True),
    "create: row being inserted": ("product_create.before_insert", ["products", "add", "q"], False),
}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    base = tmp_path_factory.mktemp("template")
    with pytest.MonkeyPatch.context() as mp:
        return make_fitted_workspace(base / "ws", base / "src", mp), base / "src"


@pytest.fixture
def fitted(template, tmp_path):
    """A copy of the template workspace (building one per test would double the suite's time)."""
    root, src = template
    shutil.copytree(root, tmp_path / "ws")
    return tmp_path / "ws", src


@pytest.fixture(scope="module")
def killed(template, tmp_path_factory):
    """Every case's child process, each on its own copy of the template, run side by side."""
    root, src = template
    procs = {}
    for i, (case, (point, argv, _)) in enumerate(KILLS.items()):
        copy = tmp_path_factory.mktemp(f"kill{i}") / "ws"
        shutil.copytree(root, copy)
        procs[case] = (copy, cli_child(copy, *[a.format(src=src) for a in argv], fault=point))
    out = {}
    for case, (copy, proc) in procs.items():
        _, err = proc.communicate(timeout=180)
        out[case] = (copy, proc.returncode, err)
    return out


def _cli(capsys, root, *args):  # noqa: ANN001, ANN202
    from inspector.cli import main

    code = main(["-w", str(root), *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("case", list(KILLS))
def test_kill_at_fault_point_leaves_a_working_workspace(killed, template, case, capsys, monkeypatch):
    root, returncode, stderr = killed[case]
    src = template[1]
    point, _, leaves_something = KILLS[case]
    assert returncode == 137, f"the child was not killed at {point}: {stderr[-2000:]}"

    integrity_ok(root)
    rows_have_files(root)
    if leaves_something:
        assert leftovers(root) or list((root / "products").glob("*/.deleting")), "the kill left nothing to clean?"
    register_meandiff(monkeypatch)
    code, out, err = _cli(capsys, root, "products", "list")
    assert code == 0, err
    if leaves_something:
        assert "note: removed" in err and "leftover" in err  # one line saying what opening removed
    assert leftovers(root) == []
    assert not list((root / "products").glob("*/.deleting"))

    # The next normal commands work, on the old product and on a new one.
    con = sqlite3.connect(root / "inspector.db")
    ids_before = {i for (i,) in con.execute("SELECT id FROM products")}
    con.close()
    folders_before = {p.name for p in (root / "products").iterdir()}
    code, _, err = _cli(capsys, root, "products", "add", "fresh", "--engine", "meandiff")
    assert code == 0, err
    con = sqlite3.connect(root / "inspector.db")
    (new_id,) = {i for (i,) in con.execute("SELECT id FROM products")} - ids_before
    con.close()
    assert str(new_id) not in folders_before, "a new product inherited an old product's folder"
    con = sqlite3.connect(root / "inspector.db")
    name = "p" if con.execute("SELECT 1 FROM products WHERE name = 'p'").fetchone() else "fresh"
    con.close()
    for args in (["refs", "add", "fresh", src / "good"], ["refs", "add", name, src / "good"],
                 ["fit", name, "--device", "cpu"], ["inspect", name, src / "bad", "--device", "cpu"]):
        code, _, err = _cli(capsys, root, *args)
        assert code == 0, f"{args}: {err}"
    integrity_ok(root)
    assert rows_have_files(root) > 0
    assert leftovers(root) == []


def test_delete_cut_short_is_finished_at_next_open_and_its_id_never_returns(fitted, capsys, monkeypatch):
    """The newest product's delete killed after its rows went: SQLite would give the next product
    the same id, so it would inherit products/<id>/ with the old fitted state (and fail to fit)."""
    root, src = fitted
    proc = run_cli(root, "products", "delete", "p", "--confirm", "p", fault="product_delete.after_rows")
    assert proc.returncode == 137
    assert (root / "products" / "1" / "state" / "v1").is_dir()
    register_meandiff(monkeypatch)
    code, _, err = _cli(capsys, root, "products", "add", "q", "--engine", "meandiff")
    assert code == 0, err
    assert "products/1" in err  # the note names what was removed
    assert not (root / "products" / "1").exists()
    con = sqlite3.connect(root / "inspector.db")
    assert con.execute("SELECT id FROM products WHERE name = 'q'").fetchone()[0] == 2
    con.close()
    for args in (["refs", "add", "q", src / "good"], ["fit", "q", "--device", "cpu"]):
        code, out, err = _cli(capsys, root, *args)
        assert code == 0, err
    assert "fitted state v1" in out


def test_new_product_skips_ids_whose_folder_exists(ws, tmp_path):
    """A folder without a row (say, the database was restored from an older copy) is never
    inherited by a new product, and never removed (it is not marked as being deleted)."""
    from inspector.services import products

    products.create_product(ws, "a")
    stray = ws.root / "products" / "7" / "references"
    stray.mkdir(parents=True)
    (stray / "old.png").write_bytes(b"old")
    assert products.create_product(ws, "b").id == 8
    ws.close()
    from inspector.storage.workspace import open_workspace

    again = open_workspace(ws.root)
    assert again.cleaned == [] and (stray / "old.png").exists()
    again.close()
