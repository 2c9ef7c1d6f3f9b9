"""Killing the process during a burst of 200 `refs add` operations loses nothing committed
and leaves no row pointing to a missing or half-written file."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from helpers import write_png

BURST = textwrap.dedent("""
    import sys
    from pathlib import Path
    from inspector.storage.workspace import open_workspace
    from inspector.services.references import add_references
    ws = open_workspace(Path(sys.argv[1]))
    for path in sorted(Path(sys.argv[2]).iterdir()):
        add_references(ws, "p", [path])   # one `refs add` operation per image
        print("added", flush=True)
""")


@pytest.mark.parametrize("kill_after", [3, 60])
def test_sigkill_during_200_refs_add(tmp_path, kill_after):
    from inspector.services.products import create_product
    from inspector.storage.workspace import init_workspace, open_workspace

    ws = init_workspace(tmp_path / "ws")
    create_product(ws, "p")
    ws.close()
    src = tmp_path / "src"
    for i in range(200):
        write_png(src / f"{i:03d}.png", seed=i, size=(96, 96))
    proc = subprocess.Popen([sys.executable, "-c", BURST, str(tmp_path / "ws"), str(src)],
                            stdout=subprocess.PIPE, text=True)
    seen = 0
    deadline = time.monotonic() + 120
    while seen < kill_after and time.monotonic() < deadline:
        if proc.stdout.readline():
            seen += 1
    time.sleep(0.01 * (kill_after % 7))  # land somewhere inside the next operation
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert seen == kill_after, "the burst did not get far enough before the deadline"

    con = sqlite3.connect(tmp_path / "ws" / "inspector.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = con.execute("SELECT path, sha256 FROM reference_images").fetchall()
    con.close()
    assert kill_after <= len(rows) < 200
    for rel, sha in rows:
        data = (tmp_path / "ws" / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha, f"{rel} is not the file its row describes"
    # The workspace still opens and takes more work.
    ws = open_workspace(tmp_path / "ws")
    from inspector.services.references import add_references
    added, _ = add_references(ws, "p", [src])
    assert len(added) + len(rows) == 200
    ws.close()
