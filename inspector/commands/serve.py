"""`serve`: the station beside the line, without a window (triggers in, verdicts out)."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading


def _default_station() -> str:
    from ..line.links import station_id

    return station_id(socket.gethostname())


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    from ..core.errors import InspectorError
    from ..engines.registry import resolve_device
    from ..line import LinePipeline, SnapFeed, open_feed
    from ..line.links import LineLinks, check_links
    from .common import open_ws

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    station = args.station or _default_station()
    # check everything the user typed before anything starts or is written
    check_links(args.opcua, args.mqtt, station)
    if args.spool_max < 1:
        raise InspectorError("--spool-max must be at least 1 message")
    ws = open_ws(args)
    device = resolve_device(args.device)
    from ..line.pipeline import load_fitted_detector

    _, version = load_fitted_detector(ws, args.product, device)  # refuse unknown/unfitted first
    from ..services.engine_state import draft_pending_note

    note = draft_pending_note(ws, args.product)  # serve never refits: it runs the published state
    if note:
        _say(f"note: serving v{version}; {note}")
    feed = open_feed(ws, args.source, station, loop=args.loop)
    software = args.trigger == "software" or isinstance(feed, SnapFeed)
    if software and not (args.opcua or args.mqtt):
        raise InspectorError(f"{args.source} takes one part per software trigger — give --opcua "
                             "PORT or --mqtt URL so the line can trigger it")
    pipe = LinePipeline(ws, args.product, feed, station=station, retention=args.retain,
                        software_trigger=software, device=device)
    pipe.add_listener(lambda part: print(part.log_line(), flush=True))
    pipe.add_state_listener(lambda state, why: _say(f"state: {state}" + (f" — {why}" if why else "")))
    links = LineLinks(ws, pipe, station, opcua=args.opcua, mqtt=args.mqtt, mqtt_qos=args.mqtt_qos,
                      spool_max=args.spool_max, say=_say)
    try:
        links.start()
        stop = threading.Event()

        def on_signal(signum: int, _frame: object) -> None:
            _say(f"{signal.Signals(signum).name}: finishing the current part, then stopping")
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        _say(f"serving '{args.product}' on {feed.description} as station {station}, "
             f"threshold {pipe.threshold:.4f}, retention {args.retain}"
             + ("; parts on software trigger" if software else ""))
        try:
            pipe.run(stop)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        _say(f"stopped: {pipe.inspected} part(s), {pipe.ng} NG this run")
    finally:
        links.stop()
        feed.close()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the station headless: triggered inspection, OPC UA, MQTT",
                       description="Inspect one part per trigger with the product's fitted state, "
                       "record every part once, and publish verdicts over OPC UA and MQTT. Stops "
                       "on SIGTERM/Ctrl+C after the current part; a restart carries on where it "
                       "stopped.")
    p.add_argument("product")
    p.add_argument("--source", required=True, metavar="hotfolder:DIR|replay:DIR|camera:N",
                   help="hotfolder: each new image is a part; replay: each image once, in name "
                   "order; camera: one frame per software trigger")
    p.add_argument("--loop", action="store_true", help="replay: start again at the end (new parts)")
    p.add_argument("--trigger", choices=["auto", "software"], default="auto",
                   help="software: take a part only on OPC UA Trigger / MQTT cmd/trigger")
    p.add_argument("--opcua", metavar="[HOST:]PORT", help="run an OPC UA server (e.g. 4840)")
    p.add_argument("--mqtt", metavar="URL", help="publish to mqtt://host:port/topic")
    p.add_argument("--mqtt-qos", type=int, choices=[1, 2], default=2,
                   help="2: exactly once, also across broker restarts (default); 1: at least once")
    p.add_argument("--spool-max", type=int, default=10000, metavar="N",
                   help="messages kept on disk while the broker is away (oldest dropped beyond)")
    p.add_argument("--station", default="", help="station name (default: this computer's name)")
    p.add_argument("--retain", choices=["all", "ng", "thumbs"], default="all",
                   help="images kept: all, NG and RECHECK only, or those + thumbnails of OK parts")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.set_defaults(func=cmd_serve)
