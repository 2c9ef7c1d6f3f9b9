"""The window's triggered mode on the line: the PLC (a real asyncua client) triggers a camera and
reads the verdict, the MES (a real Mosquitto and paho) gets every verdict and can trigger too,
link changes show in the status line, and a bad address in Settings is refused and not used.

On the fast `meandiff` test engine with 64x48 images, like test_gui_line_mode.py."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from line_fixtures import Broker, Subscriber, free_port, start_broker, write_part
from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers
from test_gui_line_mode import _open_live, _parts, line_ws  # noqa: F401 - line_ws is a fixture

TOPIC = "plant/line1/parts"


@pytest.fixture
def broker(tmp_path):
    b = start_broker(tmp_path / "broker")
    yield b
    b.stop()


def _set_link(w, name: str, text: str) -> None:
    """Type an address into the Settings tab's field and leave it (editingFinished saves it)."""
    field = getattr(w.tab_widgets["settings"], name)
    field.setText(text)
    field.editingFinished.emit()


def _history(ws_root: Path, product: str = "p") -> list:
    from inspector.services.inspections import query_history
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(ws_root)
    try:
        return query_history(ws, product)
    finally:
        ws.close()


def _fit_second_product(ws_root: Path, tmp_path: Path) -> None:
    from inspector.services.engine_state import fit_product
    from inspector.services.products import create_product
    from inspector.services.references import add_references
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(ws_root)
    try:
        create_product(ws, "p2", engine="meandiff")
        add_references(ws, "p2", [write_part(tmp_path / "r2" / f"{i}.png", 50 + i) for i in range(4)])
        fit_product(ws, "p2")
    finally:
        ws.close()


def test_plc_trigger_gives_one_part_in_the_window_and_the_mes_gets_it(qtbot, make_window, line_ws,
                                                                        tmp_path, broker):
    from asyncua import ua
    from asyncua.sync import Client

    _fit_second_product(line_ws, tmp_path)
    camera = tmp_path / "camera"
    _parts(camera, 3, ng_every=1)  # every frame is defective: the PLC must read NG
    port = free_port()
    w, tab = _open_live(make_window, line_ws, "triggered")
    w.tab_widgets["settings"].station.setText("Line 3 / B")
    w.tab_widgets["settings"].station.editingFinished.emit()
    _set_link(w, "opcua", f"127.0.0.1:{port}")
    _set_link(w, "mqtt", f"{broker.url}/{TOPIC}")
    sub = Subscriber(broker.port, [TOPIC, f"{TOPIC}/status", f"{TOPIC}/cmd/reply"], client_id="mes")
    tab.set_source("camera", f"folder:{camera}")  # a camera stand-in: frames until triggered
    tab.start()
    wait_until(qtbot, lambda: tab.session.ready and "MQTT connected" in tab.rates.text(), 30)
    assert f"OPC UA opc.tcp://127.0.0.1:{port}/inspector/" in tab.rates.text()
    assert "PLC / MES" in tab.rates.text()
    client = Client(f"opc.tcp://127.0.0.1:{port}/inspector/")
    client.connect()
    try:
        ns = client.get_namespace_index("urn:inspector:line")
        node = lambda name: client.get_node(f"ns={ns};s=Line-3---B.{name}")  # noqa: E731
        obj = client.get_node(f"ns={ns};s=Line-3---B")
        part_id = obj.call_method(ua.QualifiedName("Trigger", ns))
        assert not part_id.startswith("error"), part_id
        wait_until(qtbot, lambda: tab.parts_shown == 1 and node("LastPartId").read_value() == part_id, 30)
        wait_until(qtbot, lambda: len(sub.payloads(TOPIC)) == 1, 10)
        qtbot.wait(300)  # a second part would show up now
        assert tab.parts_shown == 1 and tab.view.shown_frame_id == part_id
        assert node("LastVerdict").read_value() == "NG" == tab.panel.banner.state
        assert (node("PartCounter").read_value(), node("NGCounter").read_value()) == (1, 1)
        assert node("MqttLink").read_value().startswith("connected")
        message = json.loads(sub.payloads(TOPIC)[0])
        assert (message["part_id"], message["verdict"], message["station"]) == (part_id, "NG", "Line 3 / B")
        rows = _history(line_ws)
        assert [r.id for r in rows] == [message["record_id"]] == [tab.last_record]

        # the PLC selects another product: the status line says so; the next part uses it
        reply = obj.call_method(ua.QualifiedName("SelectProduct", ns), "p2")
        assert reply.startswith("product 'p2' selected"), reply
        wait_until(qtbot, lambda: "line: product 'p2' selected" in tab.rates.text(), 10)
        sub.client.publish(f"{TOPIC}/cmd/trigger", b"", qos=1)  # the MES triggers the next part
        wait_until(qtbot, lambda: tab.parts_shown == 2 and len(sub.payloads(TOPIC)) == 2, 30)
        assert json.loads(sub.payloads(TOPIC)[1])["product"] == "p2"
        wait_until(qtbot, lambda: node("PartCounter").read_value() == 2, 10)
    finally:
        client.disconnect()
    session = tab.session
    tab.stop()
    wait_until(qtbot, lambda: not session.running, 20)
    wait_until(qtbot, lambda: sub.payloads(f"{TOPIC}/status")[-1:] == [b"stopped"], 10)
    sub.close()
    assert len(_history(line_ws, "p2")) == 1 and len(_history(line_ws)) == 1
    with socket.socket() as s:  # the OPC UA server let go of its port
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_a_replay_publishes_every_verdict_to_the_mes(qtbot, make_window, line_ws, tmp_path, broker):
    n = 4
    folder = tmp_path / "replay"
    _parts(folder, n)
    w, tab = _open_live(make_window, line_ws, "triggered")
    _set_link(w, "mqtt", f"{broker.url}/{TOPIC}")
    sub = Subscriber(broker.port, [TOPIC], client_id="mes-replay")
    tab.set_source("folder", str(folder), fps=30)
    tab.start()
    wait_until(qtbot, lambda: not tab.is_running(), 60)  # the replay ends by itself
    tab.shutdown()
    wait_until(qtbot, lambda: len(sub.payloads(TOPIC)) == n, 10)
    sub.close()
    got = [json.loads(p) for p in sub.payloads(TOPIC)]
    rows = _history(line_ws)
    assert tab.parts_shown == n and [m["seq"] for m in got] == list(range(1, n + 1))
    assert sorted(m["record_id"] for m in got) == sorted(r.id for r in rows)
    assert [m["name"] for m in got] == [f"part{i:03d}.png" for i in range(n)]


def test_mqtt_link_changes_show_in_the_status_line(qtbot, make_window, line_ws, tmp_path):
    port = free_port()
    late = Broker(tmp_path / "late-broker", port=port)
    if late.exe is None:
        start_broker(tmp_path / "no-broker")  # skips, saying why
    camera = tmp_path / "camera"
    _parts(camera, 2)
    w, tab = _open_live(make_window, line_ws, "triggered")
    _set_link(w, "mqtt", f"mqtt://127.0.0.1:{port}/{TOPIC}")
    tab.set_source("camera", f"folder:{camera}")
    tab.start()
    wait_until(qtbot, lambda: "MQTT unreachable" in tab.rates.text(), 60)  # a loaded machine starts slowly
    assert "messages are spooled" in tab.rates.text()
    tab.trigger()  # Space / Snap still works; the verdict waits in the spool
    wait_until(qtbot, lambda: tab.parts_shown == 1, 30)
    late.start()  # the broker comes up
    try:
        wait_until(qtbot, lambda: "MQTT connected" in tab.rates.text(), 30)
        session = tab.session
        tab.stop()
        wait_until(qtbot, lambda: not session.running, 20)
    finally:
        late.stop()


def test_bad_addresses_in_settings_are_refused_and_the_run_works_without_links(qtbot, make_window, line_ws,
                                                                            tmp_path):
    w, tab = _open_live(make_window, line_ws, "triggered")
    settings_tab = w.tab_widgets["settings"]
    w.show_tab("settings")
    _set_link(w, "opcua", "plc-port")
    _set_link(w, "mqtt", "http://broker/parts")
    opcua_error, mqtt_error = settings_tab.link_errors["line/opcua"], settings_tab.link_errors["line/mqtt"]
    assert opcua_error.isVisible() and mqtt_error.isVisible()
    assert opcua_error.text().startswith("error: OPC UA endpoint 'plc-port' is not [HOST:]PORT — e.g. 4840")
    assert "--opcua" not in opcua_error.text()
    assert mqtt_error.text().startswith("error: MQTT URL 'http://broker/parts' is not valid — write mqtt://")
    assert w.state.settings.value("line/opcua") == "" and w.state.settings.value("line/mqtt") == ""
    folder = tmp_path / "replay"
    _parts(folder, 2)
    w.show_tab("live")
    tab.set_source("folder", str(folder), fps=30)
    tab.start()
    wait_until(qtbot, lambda: not tab.is_running(), 60)
    tab.shutdown()
    assert tab.parts_shown == 2 and len(_history(line_ws)) == 2
    assert tab.links_text == "" and "MQTT" not in tab.rates.text()

    _set_link(w, "mqtt", "")  # blank is off, and clears the message
    assert not mqtt_error.isVisible()


def test_a_taken_opcua_port_is_a_cannot_inspect_message_not_a_crash(qtbot, make_window, line_ws, tmp_path):
    camera = tmp_path / "camera"
    _parts(camera, 1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        w, tab = _open_live(make_window, line_ws, "triggered")
        _set_link(w, "opcua", f"127.0.0.1:{port}")
        tab.set_source("camera", f"folder:{camera}")
        tab.start()
        wait_until(qtbot, lambda: not tab.is_running(), 30)
    assert tab.panel.banner.state == "message"
    assert f"OPC UA port {port} on 127.0.0.1 is already in use" in tab.panel.banner.detail
    assert "choose another port with Settings › PLC (OPC UA)" in tab.panel.banner.detail


def test_a_plc_trigger_on_a_hot_folder_run_is_told_what_to_pick_in_the_window(qtbot, make_window, line_ws,
                                                                               tmp_path):
    from asyncua import ua
    from asyncua.sync import Client

    hot = tmp_path / "hot"
    hot.mkdir()
    port = free_port()
    w, tab = _open_live(make_window, line_ws, "triggered")
    _set_link(w, "opcua", f"127.0.0.1:{port}")
    tab.set_source("hotfolder", str(hot))
    tab.start()
    wait_until(qtbot, lambda: tab.session.ready and "OPC UA" in tab.rates.text(), 30)
    client = Client(f"opc.tcp://127.0.0.1:{port}/inspector/")
    client.connect()
    try:
        ns = client.get_namespace_index("urn:inspector:line")
        obj = client.get_node(f"ns={ns};s={tab.session.links.station}")
        reply = obj.call_method(ua.QualifiedName("Trigger", ns))
    finally:
        client.disconnect()
    assert reply.startswith("error: this station is triggered by its source"), reply
    assert "pick a camera, stream or video source in the Live tab" in reply and "--trigger" not in reply
    session = tab.session
    tab.stop()
    wait_until(qtbot, lambda: not session.running, 20)


def test_messages_left_for_an_unreachable_mes_are_counted_when_the_run_stops(qtbot, make_window, line_ws,
                                                                            tmp_path):
    camera = tmp_path / "camera"
    _parts(camera, 2)
    w, tab = _open_live(make_window, line_ws, "triggered")
    _set_link(w, "mqtt", f"mqtt://127.0.0.1:{free_port()}/{TOPIC}")  # no broker listens there
    tab.set_source("camera", f"folder:{camera}")
    tab.start()
    wait_until(qtbot, lambda: "MQTT unreachable" in tab.rates.text(), 60)  # a loaded machine starts slowly
    tab.trigger()
    wait_until(qtbot, lambda: tab.parts_shown == 1, 30)
    session = tab.session
    tab.stop()
    wait_until(qtbot, lambda: not session.running, 20)
    # the part's verdict and the station's state messages wait for the next start
    wait_until(qtbot, lambda: "MQTT message(s) not delivered wait in the spool" in tab.skipped.text(), 10)
    assert int(tab.skipped.text().split()[0]) == session.spooled >= 1
