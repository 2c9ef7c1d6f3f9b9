"""The station's links to the line, wired to a LinePipeline: OPC UA for the PLC, MQTT for the MES.

    links = LineLinks(ws, pipe, "st1", opcua="4840", mqtt="mqtt://broker:1883/plant/line1/parts",
                      say=print)
    links.start()        # raises InspectorError (port taken, bad URL); nothing is left running then
    pipe.run(stop)
    left = links.stop()  # MQTT messages not delivered stay in the spool for the next start

`inspector serve` and the window's triggered mode (gui/line_session.py) both use this, so the
PLC and the MES see the same station either way. Triggers, product selection and counter
resets come in from both links; verdicts and the station state go out on both. No Qt here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from ..core.errors import InspectorError
from .pipeline import LinePipeline, load_fitted_detector

if TYPE_CHECKING:
    from ..storage.workspace import Workspace
    from .mqtt import MqttPublisher
    from .opcua import OpcUaStation

Say = Callable[[str], None]


def station_id(name: str) -> str:
    """A station name safe in file names, MQTT topics and node ids ("Line 3 / B" -> "Line-3---B")."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name) or "station"


def spool_path(ws: "Workspace", station: str) -> Path:
    """Where MQTT messages wait for the broker, one file per station (kept across runs)."""
    return ws.root / "line" / f"mqtt-spool-{station}.sqlite"


def check_links(opcua: Optional[str], mqtt: Optional[str], station: str) -> None:
    """Refuse a bad OPC UA endpoint or MQTT URL before anything starts (InspectorError);
    blank means that link is off."""
    from .mqtt import parse_mqtt_url
    from .opcua import parse_endpoint

    if (mqtt or "").strip():
        parse_mqtt_url(mqtt.strip(), station)
    if (opcua or "").strip():
        parse_endpoint(opcua.strip())


class LineLinks:
    """OPC UA server and MQTT publisher of one station (either may be off: "" or None).

    say(text): progress and link changes in words (serve prints them; the window ignores them).
    on_change(): called (from a link's thread) when `summary()` changed: the MQTT link went up or
        down, or the line selected a product.
    """

    def __init__(self, ws: "Workspace", pipe: LinePipeline, station: str, *,
                 opcua: Optional[str] = None, mqtt: Optional[str] = None, mqtt_qos: int = 2,
                 spool_max: int = 10000, say: Optional[Say] = None,
                 on_change: Optional[Callable[[], None]] = None,
                 opcua_hint: str = "--opcua HOST:PORT") -> None:
        self.ws, self.pipe, self.station = ws, pipe, station
        self.opcua_spec, self.mqtt_url = (opcua or "").strip(), (mqtt or "").strip()
        self.mqtt_qos, self.spool_max = mqtt_qos, spool_max
        self.say: Say = say or (lambda _text: None)
        self.on_change = on_change
        self.opcua_hint = opcua_hint  # where the user sets the OPC UA port (said when it is taken)
        self.opcua: Optional["OpcUaStation"] = None
        self.mqtt: Optional["MqttPublisher"] = None
        self.selected = ""  # the last product switch asked for by the line, in words

    @property
    def enabled(self) -> bool:
        return bool(self.opcua_spec or self.mqtt_url)

    # --- from the links (their threads) ---------------------------------------------------

    def select(self, product: str) -> str:
        """The line asks for another product: the pipeline switches from the next part on."""
        pipe = self.pipe
        message = pipe.select_product(product)
        self.say(message)
        self.selected = message
        if self.opcua is not None:  # the cached detector: no second load
            self.opcua.set_product(product,
                                   load_fitted_detector(self.ws, product, pipe.device)[0].calibration.threshold)
        self._changed()
        return message

    def on_command(self, command: str, payload: str) -> str:
        """An MQTT command (cmd/trigger, cmd/product, cmd/reset) -> the reply text."""
        if command == "trigger":
            return self.pipe.trigger()
        if command == "product":
            return self.select(payload)
        if command == "reset":
            return self.pipe.reset_counts()
        raise InspectorError(f"unknown command '{command}' — use cmd/trigger, cmd/product or cmd/reset")

    def on_link(self, link: str, why: str) -> None:
        self.say(f"mqtt: {link} — {why}")
        if self.opcua is not None:
            self.opcua.set_link(f"{link}: {why}")
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the OPC UA server, then the MQTT publisher; on any failure stop what started."""
        check_links(self.opcua_spec, self.mqtt_url, self.station)
        try:
            if self.opcua_spec:
                self._start_opcua()
            if self.mqtt_url:
                self._start_mqtt()
        except BaseException:
            self.stop()
            raise

    def _start_opcua(self) -> None:
        from .opcua import OpcUaStation

        pipe = self.pipe
        opcua = OpcUaStation(self.opcua_spec, self.station, pipe.trigger, self.select, pipe.reset_counts,
                             port_hint=self.opcua_hint)
        opcua.start()
        self.opcua = opcua
        opcua.set_product(pipe.product, pipe.threshold)
        pipe.add_listener(opcua.update_part)
        pipe.add_state_listener(opcua.set_state)
        self.say(f"OPC UA: {opcua.endpoint} (namespace urn:inspector:line, node ids "
                 f"ns={opcua.ns};s={self.station}.LastVerdict ...)")

    def _start_mqtt(self) -> None:
        from .mqtt import MqttPublisher

        pipe = self.pipe
        mqtt = MqttPublisher(self.mqtt_url, self.station, spool_path(self.ws, self.station),
                             spool_max=self.spool_max, on_command=self.on_command,
                             on_link=self.on_link, qos=self.mqtt_qos)
        self.mqtt = mqtt
        waiting = len(mqtt.spool)
        mqtt.set_state("running")
        mqtt.start()
        pipe.add_listener(mqtt.publish_part)
        pipe.add_state_listener(mqtt.set_state)
        self.say(f"MQTT: {mqtt.where} topic {mqtt.target.topic} (status {mqtt.status_topic}, "
                 f"QoS {mqtt.qos})" + (f"; {waiting} message(s) from the last run to deliver first"
                                        if waiting else ""))

    def stop(self) -> int:
        """Stop both links (again is harmless); returns how many MQTT messages stay spooled."""
        left = 0
        mqtt, self.mqtt = self.mqtt, None
        if mqtt is not None:
            left = mqtt.stop()
            if left:
                self.say(f"mqtt: {left} message(s) stay spooled for the next start")
        opcua, self.opcua = self.opcua, None
        if opcua is not None:
            opcua.stop()
        return left

    # --- in words ---------------------------------------------------------------------------

    def summary(self) -> str:
        """What is connected, e.g. "OPC UA opc.tcp://0.0.0.0:4840/inspector/ · MQTT connected
        (broker 127.0.0.1:1883)"; "" when both links are off."""
        parts = []
        if self.opcua is not None:
            parts.append(f"OPC UA {self.opcua.endpoint}")
        mqtt = self.mqtt
        if mqtt is not None:
            parts.append(f"MQTT {mqtt.link}" + (f" ({mqtt.link_reason})" if mqtt.link_reason else
                                                f" (broker {mqtt.where})"))
        if self.selected:
            parts.append(f"line: {self.selected}")
        return " · ".join(parts)
