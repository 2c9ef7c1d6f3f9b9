"""`history PRODUCT [--verdict NG] [--since DATE] [--until DATE] [--csv FILE]`."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from ..core.errors import InspectorError
from ..services import inspections as insp_svc
from ..core.names import safe_display as shown
from .common import check_output_file, open_ws, positive_int


def _date(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InspectorError(f"'{text}' is not a date — use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None


def cmd_history(args: argparse.Namespace) -> int:
    # Every input before the workspace is opened: dates, and a CSV path that can be written.
    since = _date(args.since) if args.since else None
    until = _date(args.until) + (timedelta(days=1) if len(args.until) == 10 else timedelta()) \
        if args.until else None
    csv_path = check_output_file(args.csv, "CSV file", "history.csv") if args.csv else None
    ws = open_ws(args)
    records = insp_svc.query_history(ws, product=args.product, verdict=args.verdict, since=since,
                                     until=until, source=args.source, limit=args.limit)
    if csv_path is not None:
        insp_svc.export_history_csv(records, csv_path)
        print(f"wrote {len(records)} inspection(s) to {shown(csv_path)}")
        return 0
    if not records:
        print("no inspections match")
        return 0
    for r in records:
        print(f"#{r.id:<6} {r.created_at:%Y-%m-%d %H:%M:%S}  {r.verdict}  score {r.score:.3f} "
              f"(thr {r.threshold:.3f})  {r.engine_id:<10} {r.source:<6} {len(r.regions)} region(s)  "
              f"{shown(r.original_name)}")
    ng = sum(r.verdict == "NG" for r in records)
    print(f"{len(records)} inspection(s), {ng} NG ({ng / len(records):.1%})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("history", help="list or export a product's inspections")
    p.add_argument("product", nargs="?", help="product name (all products if omitted)")
    p.add_argument("--verdict", choices=["OK", "NG"])
    p.add_argument("--source", choices=["file", "batch", "camera"])
    p.add_argument("--since", help="YYYY-MM-DD[THH:MM], inclusive")
    p.add_argument("--until", help="YYYY-MM-DD[THH:MM], inclusive for a plain date")
    p.add_argument("--limit", type=positive_int, help="at most this many, newest first")
    p.add_argument("--csv", metavar="FILE", help="write the rows to a CSV file instead of printing")
    p.set_defaults(func=cmd_history)
