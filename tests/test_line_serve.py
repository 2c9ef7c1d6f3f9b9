"""`inspector serve` end to end: SIGKILL mid-run and restart (each file exactly once), SIGTERM
stops cleanly, status over MQTT, and bad input refused with nothing changed on disk."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest

from helpers import tree_snapshot
from line_fixtures import SERVE_SCRIPT, fitted_workspace, free_port, register_meandiff, start_broker, write_part

from inspector.services.inspections import query_history
from inspector.storage.workspace import open_workspace


@pytest.fixture
def ws_dir(tmp_path, monkeypatch):
    register_meandiff(monkeypatch)
    fitted_workspace(tmp_path / "ws").close()
    return tmp_path / "ws"


def _serve(ws_dir, *args):
    return subprocess.Popen([sys.executable, "-c", SERVE_SCRIPT, "-w", str(ws_dir), "serve", "p",
                             "--device", "cpu", "--station", "st1", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _read_parts(proc, n, timeout=60.0):
    lines = []
    deadline = time.monotonic() + timeout
    while len(lines) < n and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if " st1-" in line:
            lines.append(line)
    return lines


def _names(ws_dir):
    ws = open_workspace(ws_dir)
    try:
        return Counter(r.original_name for r in query_history(ws, "p"))
    finally:
        ws.close()


@pytest.mark.parametrize("kind,kill_after", [("replay", 1), ("replay", 17), ("hotfolder", 9)])
def test_sigkill_mid_run_then_restart_inspects_the_rest_exactly_once(ws_dir, tmp_path, kind, kill_after):
    folder = tmp_path / "in"
    for i in range(40):
        write_part(folder / f"{i:03d}.png", i, defect=i % 9 == 0)
    proc = _serve(ws_dir, "--source", f"{kind}:{folder}")
    assert len(_read_parts(proc, kill_after)) == kill_after
    time.sleep(0.004 * (kill_after % 5))  # land somewhere inside the next part
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sum(_names(ws_dir).values())
    assert kill_after <= done_before < 40
    again = _serve(ws_dir, "--source", f"{kind}:{folder}")
    if kind == "hotfolder":  # a hot folder never ends: stop it once the rest is done
        assert len(_read_parts(again, 40 - done_before)) == 40 - done_before
        time.sleep(0.5)  # a repeated file would show up now
        again.send_signal(signal.SIGTERM)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert out.count(" st1-") == (40 - done_before if kind == "replay" else 0)
    assert _names(ws_dir) == Counter(f"{i:03d}.png" for i in range(40))
    assert "stopped: " in err


def test_sigterm_stops_cleanly_and_status_says_so(ws_dir, tmp_path):
    broker = start_broker(tmp_path / "broker")
    try:
        import paho.mqtt.client as mqtt

        status = []
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="watch")
        sub.on_connect = lambda c, *a: c.subscribe("line/st1/parts/status", 1)
        sub.on_message = lambda c, u, m: status.append(m.payload.decode())
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        hot = tmp_path / "hot"
        hot.mkdir()
        proc = _serve(ws_dir, "--source", f"hotfolder:{hot}", "--mqtt", f"{broker.url}/line/st1/parts",
                      "--retain", "ng")
        for i in range(5):
            write_part(hot / f"{i}.png", i)
        assert len(_read_parts(proc, 5)) == 5
        assert "running" in status
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "SIGTERM: finishing the current part" in err and "stopped: 5 part(s), 0 NG" in err
        deadline = time.monotonic() + 10
        while status[-1:] != ["stopped"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status[-1] == "stopped"
        # killed: the broker publishes the last will
        proc = _serve(ws_dir, "--source", f"hotfolder:{hot}", "--mqtt", f"{broker.url}/line/st1/parts")
        deadline = time.monotonic() + 30
        while status[-1:] != ["running"] and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 20
        while status[-1:] != ["offline"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status[-1] == "offline"
        sub.disconnect()
        sub.loop_stop()
    finally:
        broker.stop()
    assert _names(ws_dir) == Counter(f"{i}.png" for i in range(5))


def test_unreachable_broker_serve_goes_on_and_keeps_the_messages(ws_dir, tmp_path, cli):
    folder = tmp_path / "in"
    for i in range(4):
        write_part(folder / f"{i}.png", i)
    code, out, err = cli("serve", "p", "--source", f"replay:{folder}", "--station", "st1",
                         "--device", "cpu", "--mqtt", f"mqtt://127.0.0.1:{free_port()}/x",
                         workspace=ws_dir)
    assert code == 0, err
    assert out.count(" st1-") == 4
    assert "mqtt: unreachable — cannot reach broker 127.0.0.1" in err
    assert "4 message(s) stay spooled for the next start" in err


def test_bad_input_is_refused_and_changes_nothing(ws_dir, tmp_path, cli):
    from inspector.services.products import create_product

    ws = open_workspace(ws_dir)
    create_product(ws, "raw", engine="meandiff")
    ws.close()
    folder = tmp_path / "in"
    write_part(folder / "0.png", 0)
    before = tree_snapshot(ws_dir)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    cases = [
        (["raw", "--source", f"replay:{folder}"],
         "error: product 'raw' is not fitted — fit and publish it first with `inspector fit raw`"),
        (["nope", "--source", f"replay:{folder}"], "unknown product 'nope'"),
        (["p", "--source", f"replay:{tmp_path / 'none'}"], "replay folder"),
        (["p", "--source", "folder"], "is not one of hotfolder:DIR, replay:DIR or camera:N"),
        (["p", "--source", "camera:0"], "takes one part per software trigger"),
        (["p", "--source", f"replay:{folder}", "--mqtt", "http://x"], "mqtt://host:port/topic"),
        (["p", "--source", f"replay:{folder}", "--opcua", "x"], "[HOST:]PORT"),
        (["p", "--source", f"replay:{folder}", "--opcua", f"127.0.0.1:{port}"],
         f"OPC UA port {port} on 127.0.0.1 is already in use"),
    ]
    try:
        for args, message in cases:
            code, out, err = cli("serve", *args, "--device", "cpu", "--station", "st1",
                                 workspace=ws_dir)
            assert code == 1 and message in err, (args, err)
            assert err.startswith("error: ") and "Traceback" not in err
            assert tree_snapshot(ws_dir) == before, args
    finally:
        taken.close()


def test_cli_start_does_not_import_the_line_libraries():
    code = ("import sys; from inspector.cli import build_parser; build_parser(); "
            "print(sorted({'asyncua', 'paho', 'cryptography'} & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_serve_never_refits_and_says_when_references_changed(ws_dir, tmp_path, cli):
    from inspector.services.products import get_product
    from inspector.services.references import add_references

    ws = open_workspace(ws_dir)
    add_references(ws, "p", [write_part(tmp_path / "new" / "n.png", 77)])
    version = get_product(ws, "p").state_version
    ws.close()
    folder = tmp_path / "in"
    write_part(folder / "0.png", 0)
    code, out, err = cli("serve", "p", "--source", f"replay:{folder}", "--device", "cpu",
                         workspace=ws_dir)
    assert code == 0, err
    assert f"serving v{version}; draft pending" in err
    ws = open_workspace(ws_dir)
    assert get_product(ws, "p").state_version == version  # not refitted
    ws.close()
