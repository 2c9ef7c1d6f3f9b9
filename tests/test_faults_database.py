"""Damaged, empty, foreign and newer databases are refused with a message that says how to
recover, and refusing changes nothing (not even the journal mode); migration 0002 keeps data."""

from __future__ import annotations

import sqlite3

import pytest

from fault_tools import (fitted_workspace, integrity_ok, make_fitted_workspace, register_meandiff,
                         rows_have_files, run_cli_here)

from inspector.core.errors import WorkspaceError
from inspector.storage.workspace import init_workspace, open_workspace


fitted = fitted_workspace  # the fixture, under this file's name
_cli = run_cli_here


def _files(root):  # noqa: ANN001, ANN202
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith("-shm")}  # readers may update the shared-memory index


def test_empty_database_beside_product_folders_is_refused(fitted, capsys):
    """Once, a 0-byte inspector.db was silently re-created, orphaning every product's images."""
    root, _ = fitted
    (root / "inspector.db").write_bytes(b"")
    before = _files(root)
    for args in (["products", "list"], ["workspace", "init", root]):
        code, _, err = _cli(capsys, root, *args)
        assert code == 1
        assert "is empty, but" in err and "1 product folder(s)" in err and "restore inspector.db" in err, err
    with pytest.raises(WorkspaceError, match="restore inspector.db from a backup"):
        open_workspace(root)
    assert _files(root) == before


def test_missing_database_beside_product_folders_is_not_recreated(fitted, capsys):
    root, _ = fitted
    (root / "inspector.db").unlink()
    before = _files(root)
    code, _, err = _cli(capsys, root, "workspace", "init")
    assert code == 1 and "product folder(s) but no inspector.db" in err and "restore" in err, err
    assert _files(root) == before


def test_workspace_init_on_random_bytes(tmp_path, capsys):
    import os

    root = tmp_path / "ws"
    root.mkdir()
    (root / "inspector.db").write_bytes(os.urandom(8192))
    before = _files(root)
    code, _, err = _cli(capsys, root, "workspace", "init")
    assert code == 1
    assert f"{root / 'inspector.db'} is not an Inspector database" in err and "choose another folder" in err, err
    assert _files(root) == before
    # A plain file given as the workspace folder is refused as clearly.
    (tmp_path / "file").write_bytes(os.urandom(100))
    code, _, err = _cli(capsys, tmp_path / "file", "workspace", "init")
    assert code == 1 and "is not a folder — choose a folder" in err


def _damage_page_of(root, table):  # noqa: ANN001, ANN202
    """Garbage over the root page of `table` (all changes merged into the file first)."""
    import os

    db = root / "inspector.db"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    size = con.execute("PRAGMA page_size").fetchone()[0]
    (page,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    con.close()
    with open(db, "r+b") as f:
        f.seek(size * (page - 1))
        f.write(os.urandom(size))


def test_another_programs_database_is_refused_untouched(tmp_path, capsys):
    root = tmp_path / "ws"
    root.mkdir()
    con = sqlite3.connect(root / "inspector.db")
    con.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    con.commit()
    con.close()
    before = _files(root)
    for args in (["products", "list"], ["workspace", "init"]):
        code, _, err = _cli(capsys, root, *args)
        assert code == 1 and "another program's database (tables photos)" in err, err
    assert _files(root) == before


def test_damaged_core_table_is_refused_at_open_with_recovery_steps(fitted, capsys):
    root, src = fitted
    _damage_page_of(root, "reference_images")
    before = _files(root)
    for args in (["products", "list"], ["history"], ["refs", "add", "p", src / "good"]):
        code, _, err = _cli(capsys, root, *args)
        assert code == 1, (args, err)
        assert "is damaged" in err and ".recover" in err and "restore inspector.db from a backup" in err, err
    assert _files(root) == before


def test_damaged_history_page_is_a_message_where_it_is_met(fitted, capsys, monkeypatch):
    """Opening checks only the small core tables (in constant time); a damaged history page is
    reported by the command that reads it, as damage with the way out, not a traceback."""
    root, src = fitted
    register_meandiff(monkeypatch)
    _damage_page_of(root, "inspections")
    code, _, err = _cli(capsys, root, "history")
    assert code == 1 and "damaged" in err and "restore inspector.db from a backup" in err, err
    assert "Traceback" not in err


def test_newer_schema_is_refused_without_switching_the_journal_mode(tmp_path):
    """A database from a newer Inspector, in rollback-journal mode: the refusal must not turn
    on WAL (that would be a change while saying 'nothing was changed')."""
    ws = init_workspace(tmp_path / "w")
    ws.close()
    con = sqlite3.connect(tmp_path / "w" / "inspector.db")
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("UPDATE alembic_version SET version_num = '9999_future'")
    con.commit()
    con.close()
    before = _files(tmp_path / "w")
    with pytest.raises(WorkspaceError, match="newer Inspector — update Inspector"):
        open_workspace(tmp_path / "w")
    with pytest.raises(WorkspaceError, match="newer"):
        init_workspace(tmp_path / "w")
    assert _files(tmp_path / "w") == before
    con = sqlite3.connect(tmp_path / "w" / "inspector.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    con.close()


def test_upgrade_from_0001_keeps_every_row_and_stops_id_reuse(tmp_path, monkeypatch):
    """Migration 0002 rebuilds products (AUTOINCREMENT); foreign keys must not cascade-delete
    the children while the old table is dropped."""
    from alembic import command

    from inspector.services import products, references
    from inspector.storage import database

    src = tmp_path / "src"
    root = make_fitted_workspace(tmp_path / "ws", src, monkeypatch)
    # Make it a 0001 database again: the old products table, without AUTOINCREMENT.
    ws = open_workspace(root)
    with ws.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        with conn.begin():
            command.downgrade(database._alembic_config(conn), "0001")
    ws.close()
    con = sqlite3.connect(root / "inspector.db")
    assert "AUTOINCREMENT" not in con.execute("SELECT sql FROM sqlite_master WHERE name='products'").fetchone()[0]
    counts = [con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
              for t in ("products", "reference_images", "inspections", "regions")]
    con.close()
    assert counts[1] == 4 and counts[2] == 1

    ws = open_workspace(root)
    assert database.current_revision(ws.engine) == database.head_revision()
    ws.close()
    con = sqlite3.connect(root / "inspector.db")
    assert "AUTOINCREMENT" in con.execute("SELECT sql FROM sqlite_master WHERE name='products'").fetchone()[0]
    assert [con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("products", "reference_images", "inspections", "regions")] == counts
    assert con.execute("PRAGMA foreign_keys").fetchone()[0] == 0  # (a plain connection's default)
    con.close()
    integrity_ok(root)
    rows_have_files(root)
    ws = open_workspace(root)
    with ws.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # the pool never got the keys-off one
    q = products.create_product(ws, "q")
    products.delete_product(ws, "q", "q")
    assert products.create_product(ws, "r").id == q.id + 1  # not reused
    assert len(references.list_references(ws, "p")) == 4
    ws.close()


def test_read_only_open_reads_and_refuses_writes_clearly(fitted):
    from inspector.services import inspections, products

    root, _ = fitted
    db_before = (root / "inspector.db").read_bytes()
    ws = open_workspace(root, read_only=True)
    assert [p.name for p in products.list_products(ws)] == ["p"]
    assert len(inspections.query_history(ws, "p")) == 1
    with pytest.raises(WorkspaceError, match="opened read-only, so nothing can be changed"):
        products.create_product(ws, "q")
    ws.close()
    assert (root / "inspector.db").read_bytes() == db_before
