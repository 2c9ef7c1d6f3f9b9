"""The OPC UA station against a real asyncua client: nodes, Trigger, SelectProduct, update
latency, a port already in use."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from line_fixtures import fitted_workspace, free_port, register_meandiff, write_part

from inspector.core.errors import InspectorError
from inspector.line import LinePipeline, SnapFeed
from inspector.line.opcua import OpcUaStation, parse_endpoint


@pytest.fixture
def lws(tmp_path, monkeypatch):
    register_meandiff(monkeypatch)
    ws = fitted_workspace(tmp_path / "ws")
    yield ws
    ws.close()


def test_client_reads_the_station_and_calls_trigger_and_select_product(lws, tmp_path):
    from asyncua import Client, ua

    from inspector.camera import FolderReplay
    from inspector.services.engine_state import fit_product
    from inspector.services.products import create_product
    from inspector.services.references import add_references

    create_product(lws, "raw", engine="meandiff")
    create_product(lws, "p2", engine="meandiff")
    add_references(lws, "p2", [write_part(tmp_path / "r2" / f"{i}.png", 50 + i) for i in range(4)])
    fit_product(lws, "p2")
    cam = tmp_path / "cam"
    write_part(cam / "0.png", 1, defect=True)
    pipe = LinePipeline(lws, "p", SnapFeed(FolderReplay(cam, fps=0)), station="st1",
                        software_trigger=True)
    verdicts = {}
    pipe.add_listener(lambda r: verdicts.__setitem__(r.part_id, r))
    port = free_port()
    station = OpcUaStation(f"127.0.0.1:{port}", "st1", pipe.trigger, pipe.select_product,
                           pipe.reset_counts)
    pipe.add_listener(station.update_part)
    pipe.add_state_listener(station.set_state)
    station.start()
    station.set_product("p", pipe.threshold)
    stop = threading.Event()
    t = threading.Thread(target=pipe.run, args=(stop,))
    t.start()

    async def client_session():
        async with Client(f"opc.tcp://127.0.0.1:{port}/inspector/") as client:
            ns = await client.get_namespace_index("urn:inspector:line")
            node = lambda name: client.get_node(f"ns={ns};s=st1.{name}")  # noqa: E731
            obj = client.get_node(f"ns={ns};s=st1")
            for _ in range(100):
                if await node("State").read_value() == "running":
                    break
                await asyncio.sleep(0.05)
            before = {n: await node(n).read_value()
                      for n in ("Product", "State", "PartCounter", "NGCounter", "RecheckCounter")}
            part_id = (await obj.call_method(ua.QualifiedName("Trigger", ns)))
            for _ in range(200):
                if await node("LastPartId").read_value() == part_id:
                    break
                await asyncio.sleep(0.01)
            after = {n: await node(n).read_value()
                     for n in ("LastPartId", "LastVerdict", "LastScore", "Threshold", "PartCounter",
                               "NGCounter", "RecheckCounter", "CycleTimeMs")}
            stamp = (await node("LastVerdict").read_data_value()).SourceTimestamp
            refused = await obj.call_method(ua.QualifiedName("SelectProduct", ns), "raw")
            selected = await obj.call_method(ua.QualifiedName("SelectProduct", ns), "p2")
            second = await obj.call_method(ua.QualifiedName("Trigger", ns))
            for _ in range(200):
                if await node("LastPartId").read_value() == second:
                    break
                await asyncio.sleep(0.01)
            product_after = await node("Product").read_value()
            counted = await node("PartCounter").read_value()
            await obj.call_method(ua.QualifiedName("ResetCounters", ns))
            for _ in range(100):
                if await node("PartCounter").read_value() == 0:
                    break
                await asyncio.sleep(0.01)
            reset = await node("PartCounter").read_value()
            return before, part_id, after, stamp, refused, selected, (product_after, counted, reset)

    try:
        before, part_id, after, stamp, refused, selected, product_after = asyncio.run(client_session())
    finally:
        stop.set()
        t.join(10)
        station.stop()
    assert before == {"Product": "p", "State": "running", "PartCounter": 0, "NGCounter": 0, "RecheckCounter": 0}
    result = verdicts[part_id]
    assert after["LastPartId"] == part_id and after["LastVerdict"] == "NG" == result.verdict
    assert after["LastScore"] == pytest.approx(result.score)
    assert after["Threshold"] == pytest.approx(result.threshold)
    assert (after["PartCounter"], after["NGCounter"], after["RecheckCounter"]) == (1, 1, 0)
    lag_ms = (stamp.timestamp() - result.verdict_wall) * 1000
    print(f"OPC UA values written {lag_ms:.1f} ms after the verdict")
    assert lag_ms < 50
    assert refused.startswith("error: product 'raw' is not fitted — fit and publish it first")
    assert selected.startswith("product 'p2' selected")
    assert product_after == ("p2", 2, 0)
    assert pipe.inspected == 0


def test_port_in_use_is_a_clear_message():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        station = OpcUaStation(f"127.0.0.1:{port}", "st1", lambda: "", lambda n: "")
        with pytest.raises(InspectorError, match=rf"OPC UA port {port} on 127.0.0.1 is already in "
                                                 r"use .* — stop it or choose another port"):
            station.start()
    station.stop()  # safe after a failed start


def test_endpoint_forms():
    assert parse_endpoint("4840") == ("0.0.0.0", 4840)
    assert parse_endpoint("127.0.0.1:4841") == ("127.0.0.1", 4841)
    assert parse_endpoint(":4842") == ("0.0.0.0", 4842)
    for bad in ("", "x", "host:", "1:70000", "0"):
        with pytest.raises(InspectorError, match=r"\[HOST:\]PORT"):
            parse_endpoint(bad)
