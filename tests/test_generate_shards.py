"""One generation job split by sample index over processes: torchrun, --shard K/N, a killed shard."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inspector.core.errors import InspectorError
from inspector.generate.shards import Shard, from_env, parse_shard, resolve

COUNT = 12
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def workspace(tmp_path) -> Path:
    """A workspace with a small washer product (3 references, 96 px)."""
    from inspector.generate.procedural import write_demo_dataset
    from inspector.services.products import create_product
    from inspector.services.references import add_references
    from inspector.storage.workspace import init_workspace

    good = write_demo_dataset(tmp_path / "data", "washer", n_train=3, n_test_good=0, n_test_bad=0,
                              size=96) / "train" / "good"
    ws = init_workspace(tmp_path / "ws")
    try:
        create_product(ws, "washer", defect_words=["scratch", "dent"])
        add_references(ws, "washer", [good])
    finally:
        ws.close()
    return tmp_path / "ws"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "INSPECTOR_FAULT")}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", **extra)
    return env


def _generate(ws: Path, *extra: str) -> list[str]:
    return ["-m", "inspector", "-w", str(ws), "generate", "washer", "--count", str(COUNT), "--seed", "4",
            "--set-name", "split", *extra]


def _check_set(ws: Path) -> None:
    """Exactly COUNT samples, indices 0..COUNT-1 once each, every file there, the database sound."""
    import json

    con = sqlite3.connect(ws / "inspector.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = con.execute("SELECT image_path, mask_path, parameters FROM synthetic_samples").fetchall()
    finally:
        con.close()
    indices = sorted(json.loads(p)["index"] for _, _, p in rows)
    assert indices == list(range(COUNT))
    for image, mask, _ in rows:
        assert (ws / image).is_file() and (ws / mask).is_file()
    shown = subprocess.run([sys.executable, "-m", "inspector", "-w", str(ws), "synth", "show", "washer", "split"],
                           env=_env(), capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and f"{COUNT} of {COUNT} samples" in shown.stdout


def _count(ws: Path) -> int:
    con = sqlite3.connect(ws / "inspector.db", timeout=5)
    try:
        return con.execute("SELECT count(*) FROM synthetic_samples").fetchone()[0]
    finally:
        con.close()


def test_the_split_comes_from_the_option_or_the_launcher() -> None:
    assert parse_shard("1/3") == Shard(1, 3, 0, "--shard")
    assert [i for i in range(7) if parse_shard("1/3").owns(i)] == [1, 4]
    assert from_env({}) == Shard()
    assert from_env({"WORLD_SIZE": "8", "RANK": "5", "LOCAL_RANK": "1"}) == Shard(5, 8, 1, "launcher")
    assert resolve("0/2", {"WORLD_SIZE": "8", "RANK": "5"}) == Shard(0, 2, 0, "--shard")
    for bad in ("2/2", "x/2", "1", "0/0", "-1/2"):
        with pytest.raises(InspectorError, match="K/N"):
            parse_shard(bad)
    with pytest.raises(InspectorError, match="RANK"):
        from_env({"WORLD_SIZE": "2", "RANK": "2"})


def test_torchrun_two_processes_make_the_set_once(workspace) -> None:
    pytest.importorskip("torch")
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          *_generate(workspace)], env=_env(), capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    if "[rank" not in text:  # the launcher itself did not start (rendezvous needs a local port)
        pytest.skip(f"torchrun could not start two processes here: {text.strip()[-300:]}")
    assert out.returncode == 0, text
    assert "[rank 0/2]" in text and "[rank 1/2]" in text
    assert f"now holds {COUNT} of {COUNT} samples" in text  # the last process to finish sees all
    _check_set(workspace)


def test_two_shards_at_once_as_plain_processes(workspace) -> None:
    procs = [subprocess.Popen([sys.executable, *_generate(workspace, "--shard", f"{k}/2")], env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for k in (0, 1)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert "6 new sample(s)" in outs[0] and "6 new sample(s)" in outs[1]
    _check_set(workspace)


def test_a_killed_shard_rerun_completes_the_set_without_duplicates(workspace) -> None:
    first = subprocess.run([sys.executable, *_generate(workspace, "--shard", "0/2")], env=_env(),
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    # shard 1 pauses between its files and its row; it is killed once two of its rows are in
    slow = subprocess.Popen([sys.executable, *_generate(workspace, "--shard", "1/2")],
                            env=_env(INSPECTOR_FAULT="synth.after_files:sleep=0.4"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while _count(workspace) < 8 and time.monotonic() < deadline and slow.poll() is None:
        time.sleep(0.05)
    assert slow.poll() is None, "shard 1 ended before it could be killed"
    os.kill(slow.pid, signal.SIGKILL)
    slow.wait(timeout=10)
    rows = _count(workspace)
    assert 8 <= rows < COUNT
    again = subprocess.run([sys.executable, *_generate(workspace, "--shard", "1/2")], env=_env(),
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    made = int(again.stdout.split("new sample(s)")[0].rsplit(":", 1)[1])
    assert made == COUNT - rows  # only the missing indices of shard 1
    _check_set(workspace)
