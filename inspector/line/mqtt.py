"""Results to MES and dashboards over MQTT (paho-mqtt), off the scoring path.

    pub = MqttPublisher("mqtt://broker:1883/plant/line3/parts", station="st1", spool_path=...)
    pub.start(); pipeline.add_listener(pub.publish_part); pipeline.add_state_listener(pub.set_state)

Each part is one JSON message on the URL's topic, QoS 1 (at least once) or 2 (exactly once,
across broker restarts too, for subscribers with a persistent session at QoS 2). `<topic>/status` holds the station's
state, retained: running / stopped / fault, and "offline" as the last will when the process
dies. Every message passes through the on-disk spool and leaves it only after the broker's
PUBACK, one at a time, so order holds and a broker restart loses nothing; paho reconnects by
itself and resends the one message in flight. Commands arrive on `<topic>/cmd/trigger`,
`<topic>/cmd/product` (payload: the product name) and `<topic>/cmd/reset` (a new shift's
counts); replies go to `<topic>/cmd/reply`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import unquote, urlsplit

from ..core.errors import InspectorError
from .parts import PartResult
from .spool import Spool

log = logging.getLogger(__name__)

INBOX_MAX = 10000  # parts waiting for the spool writer; beyond it they are counted, not queued
CommandFn = Callable[[str, str], str]  # (command, payload) -> reply text; raise InspectorError


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    topic: str
    tls: bool = False
    username: Optional[str] = None
    password: Optional[str] = None


def parse_mqtt_url(url: str, station: str) -> MqttTarget:
    """mqtt://[user:pass@]host[:port][/topic] (mqtts:// for TLS); default topic
    inspector/<station>/parts. InspectorError for anything else."""
    form = "mqtt://host:port/topic (e.g. mqtt://localhost:1883/plant/line1/parts)"
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError as exc:
        raise InspectorError(f"MQTT URL {url!r} is not valid ({exc}) — write {form}") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise InspectorError(f"MQTT URL {url!r} is not valid — write {form}")
    topic = unquote(parts.path.strip("/")) or f"inspector/{station}/parts"
    if "+" in topic or "#" in (url or "") or parts.query:
        raise InspectorError(f"MQTT topic {topic!r} may not contain +, # or ?... — write {form}")
    tls = parts.scheme == "mqtts"
    return MqttTarget(parts.hostname, port or (8883 if tls else 1883), topic, tls,
                      unquote(parts.username) if parts.username else None,
                      unquote(parts.password) if parts.password else None)


class MqttPublisher:
    """Publishes PartResults and the station state; never blocks the caller.

    link: "connecting", "connected", "unreachable" or "disconnected" (with `link_reason`);
    on_link(link, reason) is called on each change (from paho's thread).
    """

    def __init__(self, url: str, station: str, spool_path: Path, spool_max: int = 10000,
                 on_command: Optional[CommandFn] = None,
                 on_link: Optional[Callable[[str, str], None]] = None,
                 client_id: Optional[str] = None, qos: int = 2) -> None:
        if qos not in (1, 2):
            raise InspectorError(f"MQTT QoS must be 1 or 2, not {qos} — 1 is at least once, 2 exactly once")
        self.qos = qos
        self.target = parse_mqtt_url(url, station)
        self.station = station
        self.status_topic = f"{self.target.topic}/status"
        self.command_topic = f"{self.target.topic}/cmd"
        self.spool = Spool(spool_path, spool_max)
        self.on_command, self.on_link = on_command, on_link
        self.client_id = client_id or f"inspector-{station}"
        self.link, self.link_reason = "connecting", ""
        self.delivered = 0
        self.inbox_dropped = 0
        self.state = "stopped"
        self._inbox: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=INBOX_MAX)
        self._wake = threading.Event()
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._flush_deadline = 0.0
        self._thread: Optional[threading.Thread] = None
        self._client = None

    @property
    def where(self) -> str:
        return f"{self.target.host}:{self.target.port}"

    # --- called from the pipeline (any thread; never blocks) -----------------------------

    def publish_part(self, part: PartResult) -> None:
        try:
            self._inbox.put_nowait((self.target.topic, part.to_json()))
        except queue.Full:  # the spool writer is stuck (disk?): count, never hold the line
            self.inbox_dropped += 1
        self._wake.set()

    def set_state(self, state: str, reason: str = "") -> Optional[object]:
        """Publish the retained state; returns paho's message info (None when not connected)."""
        self.state = state
        if self._client is not None and self._connected.is_set():
            return self._client.publish(self.status_topic, state, qos=1, retain=True)
        return None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background (an unreachable broker is not an error here)."""
        import paho.mqtt.client as mqtt

        # QoS 2 keeps its session on the broker, so "exactly once" survives a broker restart
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             clean_session=self.qos == 1)
        if self.target.username:
            client.username_pw_set(self.target.username, self.target.password)
        if self.target.tls:
            client.tls_set()
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=0.2, max_delay=5)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        client.on_publish = lambda *args: self._wake.set()  # PUBACK: send the next one now
        self._client = client
        client.connect_async(self.target.host, self.target.port, keepalive=10)
        client.loop_start()
        self._thread = threading.Thread(target=self._deliver, name="mqtt spool", daemon=True)
        self._thread.start()

    def stop(self, flush_s: float = 3.0) -> int:
        """Publish "stopped", deliver what the spool holds for up to `flush_s` s, disconnect.
        Returns how many messages stay in the spool for the next start."""
        stopped = self.set_state("stopped")
        self._flush_deadline = time.monotonic() + flush_s
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(flush_s + 5)
        if self._client is not None:
            if stopped is not None:  # "stopped" acknowledged before we go, so no will replaces it
                try:
                    stopped.wait_for_publish(timeout=2.0)
                except (RuntimeError, ValueError):
                    pass
            self._client.disconnect()  # a clean disconnect: no last will (harmless when offline)
            self._client.loop_stop()
            self._client = None
        left = len(self.spool)
        self.spool.close()
        return left

    # --- paho callbacks (paho's network thread) ---------------------------------------------

    def _set_link(self, link: str, reason: str = "") -> None:
        if (link, reason) != (self.link, self.link_reason):
            self.link, self.link_reason = link, reason
            if self.on_link is not None:
                self.on_link(link, reason)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            self._set_link("unreachable", f"broker {self.where} refused the connection ({reason_code})")
            return
        self._connected.set()
        client.subscribe(f"{self.command_topic}/+", qos=1)
        client.publish(self.status_topic, self.state, qos=1, retain=True)
        self._set_link("connected", f"broker {self.where}")
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self._connected.clear()
        if not self._stopping.is_set():
            self._set_link("disconnected", f"lost broker {self.where} ({reason_code}); "
                                           f"reconnecting, {len(self.spool)} message(s) spooled")

    def _on_connect_fail(self, client, userdata) -> None:  # noqa: ANN001
        self._connected.clear()
        self._set_link("unreachable", f"cannot reach broker {self.where}; retrying, messages "
                                      "are spooled")

    def _on_message(self, client, userdata, message) -> None:  # noqa: ANN001
        command = message.topic.rsplit("/", 1)[-1]
        if command == "reply" or self.on_command is None:
            return
        payload = message.payload.decode("utf-8", "replace").strip()
        # a product switch loads a detector: never on paho's network thread
        threading.Thread(target=self._run_command, args=(command, payload), daemon=True).start()

    def _run_command(self, command: str, payload: str) -> None:
        try:
            reply = {"command": command, "ok": True, "message": self.on_command(command, payload)}
        except InspectorError as exc:
            reply = {"command": command, "ok": False, "message": f"error: {exc}"}
        client = self._client
        if client is not None:
            client.publish(f"{self.command_topic}/reply", json.dumps(reply), qos=1)

    # --- the spool thread ---------------------------------------------------------------------

    def _drain_inbox(self) -> None:
        batch = []
        while True:
            try:
                batch.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        dropped = self.spool.push_many(batch)
        if dropped:
            log.warning("MQTT spool full (%d messages): dropped the %d oldest (%d in all)",
                        self.spool.max_messages, dropped, self.spool.dropped)

    def _deliver(self) -> None:
        inflight = None  # (spool id, MQTTMessageInfo): one at a time keeps the order
        while True:
            self._drain_inbox()
            if self._stopping.is_set():
                done = inflight is None and (len(self.spool) == 0 or not self._connected.is_set())
                if done or time.monotonic() > self._flush_deadline:
                    return
            client = self._client
            if inflight is not None:
                if inflight[1].is_published():
                    self.spool.remove(inflight[0])
                    self.delivered += 1
                    inflight = None
                    continue
            elif client is not None and self._connected.is_set():
                row = self.spool.peek()
                if row is not None:
                    inflight = (row[0], client.publish(row[1], row[2], qos=self.qos))
                    continue  # paho resends it after a reconnect until the PUBACK comes
            self._wake.wait(0.02)
            self._wake.clear()
