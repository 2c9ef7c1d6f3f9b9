"""Inspector's station as an OPC UA server (asyncua), for PLCs and SCADA.

Node tree (namespace urn:inspector:line, string node ids "<station>.<Name>"):

    Objects/<station>/  Product, State (running/stopped/fault), StateReason, LastPartId,
                        LastName, LastVerdict, LastScore, Threshold, PartCounter, NGCounter,
                        RecheckCounter, CycleTimeMs, MqttLink
                        Trigger() -> PartId          SelectProduct(Product) -> Message
                        ResetCounters() -> Message   (a new shift's counts)

The server runs its own asyncio loop on its own thread; `update_part` only enqueues, and a task
on that loop writes the values in order, stamped (SourceTimestamp) when written. Method errors
come back as a message starting with "error:".
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from ..core.errors import InspectorError
from .parts import PartResult

log = logging.getLogger(__name__)

NAMESPACE = "urn:inspector:line"
DEFAULT_PORT = 4840

# name -> (asyncua VariantType name, initial value)
VARIABLES: dict[str, tuple[str, Any]] = {
    "Product": ("String", ""), "State": ("String", "stopped"), "StateReason": ("String", ""),
    "LastPartId": ("String", ""), "LastName": ("String", ""), "LastVerdict": ("String", ""),
    "LastScore": ("Double", 0.0), "Threshold": ("Double", 0.0), "PartCounter": ("UInt32", 0),
    "NGCounter": ("UInt32", 0), "RecheckCounter": ("UInt32", 0), "CycleTimeMs": ("Double", 0.0),
    "MqttLink": ("String", ""),
}


def parse_endpoint(spec: str, flag: str = "--opcua ") -> tuple[str, int]:
    """"4840", ":4840", "127.0.0.1:4840" -> (host, port); host defaults to 0.0.0.0. `flag`
    prefixes the examples in the error message ("" for a settings field)."""
    text = (spec or "").strip()
    host, _, port_text = text.rpartition(":") if ":" in text else ("", "", text)
    host = host.strip("[]") or "0.0.0.0"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InspectorError(f"OPC UA endpoint {spec!r} is not [HOST:]PORT — e.g. {flag}4840 or "
                             f"{flag}127.0.0.1:4840")
    return host, int(port_text)


class OpcUaStation:
    """The station's OPC UA server. on_trigger() -> part id; on_select_product(name) -> message;
    both may raise InspectorError (returned to the client as "error: ...")."""

    def __init__(self, spec: str, station: str, on_trigger: Callable[[], str],
                 on_select_product: Callable[[str], str],
                 on_reset_counts: Optional[Callable[[], str]] = None,
                 port_hint: str = "--opcua HOST:PORT") -> None:
        self.host, self.port = parse_endpoint(spec)
        self.port_hint = port_hint  # where the user sets the port, for the "in use" message
        self.station = station
        self.endpoint = f"opc.tcp://{self.host}:{self.port}/inspector/"
        self.on_trigger, self.on_select_product = on_trigger, on_select_product
        self.on_reset_counts = on_reset_counts
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._server = None
        self._nodes: dict[str, Any] = {}
        self._types: dict[str, Any] = {}
        self._writes: Optional[asyncio.Queue] = None
        self._writer: Optional[asyncio.Task] = None
        self.ns = 0

    def node_id(self, name: str) -> str:
        """The string a client uses, e.g. "ns=2;s=st1.LastVerdict"."""
        return f"ns={self.ns};s={self.station}.{name}"

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Listen; InspectorError when the port is taken or the address is not this machine's."""
        self._probe_port()  # fail in a moment, not after the address space is built (seconds)
        logging.getLogger("asyncua").setLevel(logging.WARNING)
        logging.getLogger("asyncua.server.server").setLevel(logging.CRITICAL)  # we say why
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="opcua", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout)
        except OSError as exc:
            self._shutdown_loop()
            raise self._bind_error(exc) from None
        except BaseException:
            self._shutdown_loop()
            raise

    def _bind_error(self, exc: OSError) -> InspectorError:
        if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            return InspectorError(
                f"OPC UA port {self.port} on {self.host} is already in use (another OPC UA "
                f"server or a second `inspector serve`?) — stop it or choose another port "
                f"with {self.port_hint}")
        return InspectorError(f"cannot start the OPC UA server on {self.host}:{self.port} "
                              f"({exc.strerror or exc}) — check the address and port")

    def _probe_port(self) -> None:
        import socket

        try:
            with socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's server does
                probe.bind((self.host, self.port))
        except socket.gaierror as exc:
            raise InspectorError(f"OPC UA host {self.host!r} is not an address of this machine "
                                 f"({exc.strerror}) — give one of its addresses or 0.0.0.0") from None
        except OSError as exc:
            raise self._bind_error(exc) from None

    async def _start(self) -> None:
        from asyncua import Server, ua

        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"Inspector station {self.station}")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.ns = await server.register_namespace(NAMESPACE)
        obj = await server.nodes.objects.add_object(ua.NodeId(self.station, self.ns),
                                                    ua.QualifiedName(self.station, self.ns))
        for name, (vtype, initial) in VARIABLES.items():
            t = getattr(ua.VariantType, vtype)
            node = await obj.add_variable(ua.NodeId(f"{self.station}.{name}", self.ns),
                                          ua.QualifiedName(name, self.ns), ua.Variant(initial, t))
            self._nodes[name], self._types[name] = node, t
        await obj.add_method(ua.NodeId(f"{self.station}.Trigger", self.ns),
                             ua.QualifiedName("Trigger", self.ns), self._trigger, [],
                             [ua.VariantType.String])
        await obj.add_method(ua.NodeId(f"{self.station}.SelectProduct", self.ns),
                             ua.QualifiedName("SelectProduct", self.ns), self._select_product,
                             [ua.VariantType.String], [ua.VariantType.String])
        if self.on_reset_counts is not None:
            await obj.add_method(ua.NodeId(f"{self.station}.ResetCounters", self.ns),
                                 ua.QualifiedName("ResetCounters", self.ns), self._reset_counts, [],
                                 [ua.VariantType.String])
        await server.start()
        self._server = server
        self._writes = asyncio.Queue()
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._server is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
            except Exception:  # noqa: BLE001 - stopping must not raise on the way out
                log.exception("stopping the OPC UA server failed")
        self._shutdown_loop()

    async def _stop(self) -> None:
        if self._writer is not None:
            await self._writes.join()
            self._writer.cancel()
        await self._server.stop()
        self._server = None

    def _shutdown_loop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            loop.close()

    # --- values (any thread; never blocks) ----------------------------------------------------

    def _enqueue(self, values: dict[str, Any]) -> None:
        loop = self._loop
        if loop is not None and self._writes is not None:
            loop.call_soon_threadsafe(self._writes.put_nowait, values)

    def update_part(self, part: PartResult) -> None:
        self._enqueue({"LastPartId": part.part_id, "LastName": part.name,
                       "LastVerdict": part.verdict, "LastScore": part.score,
                       "Threshold": part.threshold, "Product": part.product,
                       "PartCounter": part.inspected, "NGCounter": part.ng,
                       "RecheckCounter": part.recheck, "CycleTimeMs": part.cycle_ms})

    def set_state(self, state: str, reason: str = "") -> None:
        self._enqueue({"State": state, "StateReason": reason})

    def set_product(self, product: str, threshold: float) -> None:
        self._enqueue({"Product": product, "Threshold": threshold})

    def set_link(self, text: str) -> None:
        self._enqueue({"MqttLink": text})

    async def _write_loop(self) -> None:
        from asyncua import ua

        while True:
            values = await self._writes.get()
            try:
                now = datetime.now(timezone.utc)
                for name, value in values.items():
                    dv = ua.DataValue(ua.Variant(value, self._types[name]), SourceTimestamp=now,
                                      ServerTimestamp=now)
                    await self._server.write_attribute_value(self._nodes[name].nodeid, dv)
            except Exception:  # noqa: BLE001 - one bad value must not stop later updates
                log.exception("OPC UA update failed")
            finally:
                self._writes.task_done()

    # --- methods (the server's loop) -----------------------------------------------------------

    async def _trigger(self, parent) -> list:  # noqa: ANN001
        from asyncua import ua

        try:
            text = self.on_trigger()
        except InspectorError as exc:
            text = f"error: {exc}"
        return [ua.Variant(text, ua.VariantType.String)]

    async def _reset_counts(self, parent) -> list:  # noqa: ANN001
        from asyncua import ua

        text = self.on_reset_counts()
        self._enqueue({"PartCounter": 0, "NGCounter": 0, "RecheckCounter": 0})
        return [ua.Variant(text, ua.VariantType.String)]

    async def _select_product(self, parent, product) -> list:  # noqa: ANN001
        from asyncua import ua

        name = product.Value if hasattr(product, "Value") else product
        try:  # loading a detector takes a moment: off the server's loop
            text = await asyncio.get_running_loop().run_in_executor(None, self.on_select_product, str(name))
        except InspectorError as exc:
            text = f"error: {exc}"
        return [ua.Variant(text, ua.VariantType.String)]
