"""Shared by the line tests: a fitted product on the fast `meandiff` test engine, line images,
and a real Mosquitto broker started in a temp folder (skipped, with the reason, where it cannot run)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from fault_tools import register_meandiff  # noqa: F401 - the line tests use it from here

TESTS = Path(__file__).resolve().parent
SIZE = (64, 48)  # (width, height) of every line test image

# For subprocesses: register the test engine, then run the CLI with the given arguments.
SERVE_SCRIPT = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
import inspector.engines.registry as registry
registry.ENGINES["meandiff"] = registry.EngineSpec(
    "meandiff", "test", "test double", "test_calibration:MeanDiffModel",
    registry.Requirements(), lambda s: registry.Availability(True))
from inspector.cli import main
sys.exit(main(sys.argv[1:]))
"""


def part_image(seed: int, defect: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = np.clip(120 + rng.normal(0, 3, (SIZE[1], SIZE[0], 3)), 0, 255).astype(np.uint8)
    if defect:
        a[10:20, 30:40] = 250
    return a


def write_part(path: Path, seed: int, defect: bool = False) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(part_image(seed, defect)).save(path)
    return path


def fitted_workspace(root: Path, product: str = "p", n_refs: int = 6):  # noqa: ANN201
    """A workspace with `product` on meandiff, fitted on `n_refs` good images (register first)."""
    from inspector.services.engine_state import fit_product
    from inspector.services.products import create_product
    from inspector.services.references import add_references
    from inspector.storage.workspace import init_workspace

    ws = init_workspace(root)
    create_product(ws, product, engine="meandiff")
    refs = [write_part(root.parent / "refs" / f"r{i}.png", 1000 + i) for i in range(n_refs)]
    add_references(ws, product, refs)
    fit_product(ws, product)
    return ws


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A real mosquitto on 127.0.0.1:<port> with persistence in `folder` (survives restarts)."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.exe = shutil.which("mosquitto") or next(
            (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None)
        self.folder = folder
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\nuser root\n"
            f"persistence_location {folder}/\nautosave_interval 1\nmax_queued_messages 0\n"
            "max_inflight_messages 20\n")
        # as root mosquitto would switch to user "mosquitto", who cannot write the temp folder

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.folder / "mosquitto.log", "ab")
        self.proc = subprocess.Popen([self.exe, "-c", str(self.folder / "mosquitto.conf")],
                                     stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {(self.folder / 'mosquitto.log').read_text()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # saves its persistence file on the way out
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _skip(msg: str) -> None:
    import warnings

    import pytest

    # a warning shows in pytest's summary by default, where a skip reason needs -rs
    warnings.warn(msg, UserWarning, stacklevel=3)
    print(msg, file=sys.stderr)
    pytest.skip(msg)


def start_broker(folder: Path) -> Broker:
    """Start a broker or skip the test, saying why in the test output."""
    broker = Broker(folder)
    if broker.exe is None:
        _skip("mosquitto is not installed (apt-get install -y mosquitto): MQTT broker test skipped")
    try:
        broker.start()
    except (OSError, RuntimeError) as exc:
        _skip(f"mosquitto cannot run here ({exc}): MQTT broker test skipped")
    return broker


class Subscriber:
    """A persistent-session subscriber (its queue survives a broker restart); keeps every message."""

    def __init__(self, port: int, topics: list[str], client_id: str = "checker", qos: int = 1) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self.subscribed = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        c.reconnect_delay_set(0.1, 1)
        c.on_connect = lambda cl, *a: cl.subscribe([(t, qos) for t in topics])
        c.on_subscribe = lambda *a: self.subscribed.set()
        c.on_message = lambda cl, ud, m: self.messages.append((m.topic, m.payload, m.retain))
        c.connect("127.0.0.1", port, keepalive=5)
        c.loop_start()
        self.client = c
        assert self.subscribed.wait(10), "subscriber could not subscribe"

    def payloads(self, topic: str) -> list[bytes]:
        return [p for t, p, _ in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
