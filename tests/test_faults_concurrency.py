"""Two processes on one workspace: two fits of one product, two `refs add` of the same images,
and another program holding a write transaction (a real sqlite3 connection in a child)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest

from fault_tools import (cli_child, integrity_ok, leftovers, make_fitted_workspace, part_image,
                         register_meandiff, rows_have_files, unreferenced_files)

from inspector.core.errors import WorkspaceError


@pytest.fixture
def fitted(tmp_path, monkeypatch):
    src = tmp_path / "src"
    return make_fitted_workspace(tmp_path / "ws", src, monkeypatch), src


def test_two_fits_of_one_product_at_once_both_succeed(fitted):
    """Each fit pauses 2 s inside its critical step; without a lock both would pick v2 and
    one would fail renaming onto the other's folder (ENOTEMPTY)."""
    root, _ = fitted
    procs = [cli_child(root, "fit", "p", "--device", "cpu", fault="state.after_write:sleep=2") for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert "Traceback" not in err
    # the product was published as v1, so both fits are drafts: v2 and v3, the newer one pending
    saved = sorted(int(out.split("saved as DRAFT v")[1].split()[0]) for out, _ in results)
    assert saved == [2, 3]
    con = sqlite3.connect(root / "inspector.db")
    assert con.execute("SELECT state_version, state_path FROM products").fetchone() == (1, "products/1/state/v1")
    con.close()
    assert (root / "products/1/state/DRAFT").read_text().strip().endswith("3")
    integrity_ok(root)
    rows_have_files(root)
    assert leftovers(root) == []


HOLD_LOCK = textwrap.dedent("""
    import sys
    from filelock import FileLock
    lock = FileLock(sys.argv[1])
    lock.acquire()
    print("held", flush=True)
    sys.stdin.readline()
    lock.release()
""")


def _hold(path):  # noqa: ANN001, ANN202
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_fit_waits_with_a_message_then_runs(fitted, monkeypatch):
    from inspector.services import engine_state
    from inspector.storage.workspace import open_workspace

    root, _ = fitted
    register_meandiff(monkeypatch)
    ws = open_workspace(root)
    holder = _hold(ws.root / ".locks" / "product-1.lock")  # another process's fit of 'p'
    messages: list[str] = []
    done = threading.Event()

    def fit() -> None:
        engine_state.fit_product(ws, "p", progress=lambda d, t, m: messages.append(m))
        done.set()

    worker = threading.Thread(target=fit)
    worker.start()
    try:
        assert not done.wait(1.0), "the fit did not wait for the other one"
        assert messages and messages[0] == "waiting for another fit of 'p' to finish…"
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait()
    worker.join(60)
    assert done.is_set()
    assert engine_state.load_detector(ws, "p") is not None
    ws.close()


def test_second_fit_refuses_clearly_after_the_timeout_and_changes_nothing(fitted, monkeypatch):
    from helpers import tree_snapshot

    from inspector.services import engine_state
    from inspector.storage.workspace import open_workspace

    root, _ = fitted
    register_meandiff(monkeypatch)
    ws = open_workspace(root)
    holder = _hold(ws.root / ".locks" / "product-1.lock")
    before = tree_snapshot(root / "products")
    try:
        with pytest.raises(WorkspaceError, match=r"another fit of 'p'.*still busy after 0.3 s — wait"):
            engine_state.fit_product(ws, "p", lock_timeout_s=0.3)
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait()
    assert tree_snapshot(root / "products") == before
    ws.close()


def test_two_refs_add_of_the_same_images_at_once(fitted, tmp_path):
    """Both processes see the images as new, write the first, and meet (a barrier at the fault
    point) before committing it: one commit wins, the other meets the unique constraint and
    reports a skip, not an error."""
    import time

    root, src = fitted
    go = tmp_path / "go"
    images = [src / "good" / "g0.png", src / "good" / "g1.png"]
    procs = [cli_child(root, "refs", "add", "p", *images, fault=f"refs.after_file:wait={go}")
             for _ in range(2)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("go.*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(list(tmp_path.glob("go.*"))) == 2, "the two processes never met"
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert "error" not in err.lower()
    assert sum("added by another Inspector meanwhile" in out for out, _ in results) >= 1
    con = sqlite3.connect(root / "inspector.db")
    rows = con.execute("SELECT sha256, COUNT(*) FROM reference_images GROUP BY sha256").fetchall()
    con.close()
    assert len(rows) == 6 and all(n == 1 for _, n in rows)
    integrity_ok(root)
    rows_have_files(root)
    assert unreferenced_files(root) == []


HOLD_WRITE = textwrap.dedent("""
    import sqlite3, sys
    con = sqlite3.connect(sys.argv[1], isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    con.execute("UPDATE products SET description = 'held'")
    print("locked", flush=True)
    sys.stdin.readline()
    con.execute("ROLLBACK")
""")


def test_refs_add_waits_for_a_busy_database_with_a_message_then_adds(fitted):
    from inspector.services import references
    from inspector.storage.workspace import open_workspace

    root, src = fitted
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE, str(root / "inspector.db")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    ws = open_workspace(root, busy_timeout_s=30)
    messages: list[str] = []

    def progress(_done: int, _total: int, message: str) -> None:
        messages.append(message)
        if message.startswith("waiting for the workspace database"):  # the other writer finishes
            holder.stdin.write("\n")
            holder.stdin.flush()

    added, _ = references.add_references(ws, "p", [src / "good" / "g0.png"], progress=progress)
    holder.wait(10)
    assert len(added) == 1 and "waiting for the workspace database: another Inspector is writing to it…" in messages
    assert len(references.list_references(ws, "p")) == 5
    ws.close()
    integrity_ok(root)
    rows_have_files(root)


@pytest.fixture
def writer_holding_the_database(fitted):
    root, src = fitted
    proc = subprocess.Popen([sys.executable, "-c", HOLD_WRITE, str(root / "inspector.db")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield root, src
    proc.stdin.write("\n")
    proc.stdin.flush()
    proc.wait()


def test_busy_database_refs_add_says_so_and_leaves_no_file(writer_holding_the_database):
    from inspector.services import references
    from inspector.storage.workspace import open_workspace

    root, src = writer_holding_the_database
    new = part_image(src / "new" / "n.png", 999)
    ws = open_workspace(root, busy_timeout_s=0.6)  # opening only reads: it works while locked
    messages: list[str] = []
    with pytest.raises(WorkspaceError, match=r"stayed busy for 0.6 s: another Inspector is writing to it "
                                             r"— wait for it to finish and try again \(n.png was not added\)"):
        references.add_references(ws, "p", [new], progress=lambda d, t, m: messages.append(m))
    ws.close()
    assert "waiting for the workspace database: another Inspector is writing to it…" in messages
    assert unreferenced_files(root) == []
    assert list((root / "products").rglob(".tmp-*")) == []


def test_busy_database_inspection_says_so_and_leaves_no_file(writer_holding_the_database, monkeypatch):
    from inspector.services import engine_state
    from inspector.services.inspect import inspect_paths
    from inspector.storage.workspace import open_workspace

    root, src = writer_holding_the_database
    register_meandiff(monkeypatch)
    ws = open_workspace(root, busy_timeout_s=0.3)
    det = engine_state.load_detector(ws, "p")
    with pytest.raises(WorkspaceError, match=r"stayed busy.*the inspection of b1.png was not recorded"):
        list(inspect_paths(ws, "p", [src / "bad" / "b1.png"], det))
    ws.close()
    assert unreferenced_files(root) == []
