"""`fit`, `inspect`, `threshold`: a product's engine from the command line."""

from __future__ import annotations

import argparse
import sys

from ..core.names import safe_display as shown
from .common import check_output_dir, describe_threshold, open_ws, progress_bar


def _resolve_device(name: str) -> str:
    from ..engines.registry import resolve_device
    return resolve_device(name)


def cmd_fit(args: argparse.Namespace) -> int:
    from ..core.thresholds import histogram
    from ..services import engine_state
    from ..services import products as product_svc

    if args.engine:
        product_svc.check_engine(args.engine)
    ws = open_ws(args)
    info = product_svc.get_product(ws, args.product)
    product_svc.check_engine_runs(args.engine or info.engine, info.engine_settings)
    from .roles import engineer

    actor = engineer(ws)
    device = _resolve_device(args.device)
    with progress_bar("fit") as progress:
        det = engine_state.fit_product(ws, args.product, engine=args.engine, device=device, progress=progress,
                                       actor=actor)
    c = det.calibration
    info = product_svc.get_product(ws, args.product)
    draft = engine_state.draft_version(ws, info)
    if draft is None:
        print(f"fitted '{det.model.engine_id}' (engine version {det.model.version}) for '{shown(info.name)}'; "
              f"saved as fitted state v{info.state_version} and published (the product had no published "
              "state, so inspection uses it now)")
    else:
        print(f"fitted '{det.model.engine_id}' (engine version {det.model.version}) for '{shown(info.name)}'; "
              f"saved as DRAFT v{draft} — inspection still uses the published v{info.state_version} until "
              f"`inspector publish \"{shown(info.name)}\"`")
    print(f"threshold {describe_threshold(c)} ({len(c.good_scores)} held-out good scores, method {c.method})")
    if c.note:
        print(f"note: {c.note}")
    if c.synthetic_recall is not None:
        print(f"estimated recall on rule-based defects pasted onto held-out references: "
              f"{c.synthetic_recall:.0%} (a rough guide; real defects differ)")
    if c.suspect_references:
        from ..services.references import list_references

        refs = list_references(ws, args.product)
        names = ", ".join(f"#{refs[i].id} {shown(refs[i].original_name)}" for i in c.suspect_references
                          if i < len(refs))
        print(f"check these references: held out, they scored far above the others, so they were "
              f"left out of the threshold (remove them if they are not good parts): {names}")
    counts, edges = histogram(c.good_scores, bins=min(10, max(1, len(c.good_scores))))
    peak = max(counts) or 1
    for k, e0 in zip(counts, edges):
        print(f"  {e0:10.4f} | {'#' * round(20 * k / peak)} {k}")
    return 0


def cmd_threshold(args: argparse.Namespace) -> int:
    from ..services import engine_state

    from .roles import engineer

    from ..core.errors import InspectorError

    if args.frr is None and args.recheck_band is None and args.score is None:
        raise InspectorError("nothing to change — give --frr PERCENT or --score S, and/or --recheck-band FRACTION")
    if args.frr is not None and args.score is not None:
        raise InspectorError("give --frr (a threshold set from the good images) or --score (a fixed score), "
                             "not both — nothing was changed")
    ws = open_ws(args)
    actor = engineer(ws)
    if args.recheck_band is not None:
        info = engine_state.set_recheck_band(ws, args.product, args.recheck_band, actor=actor)
        band = engine_state.recheck_band(info)
        print(f"recheck band ± {band:.0%} of the threshold (scores that close give RECHECK, not OK or NG)"
              if band else "recheck band off")
    if args.frr is not None:
        cal = engine_state.set_target_frr(ws, args.product, args.frr / 100.0, actor=actor)
        print(f"threshold {describe_threshold(cal)}")
    if args.score is not None:
        cal = engine_state.set_threshold_score(ws, args.product, args.score, actor=actor)
        print(f"threshold {describe_threshold(cal)}; kept when the product is fitted again with the same "
              "engine version (`--frr` sets it from the good images again)")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from ..services import engine_state
    from ..services import products as product_svc

    from .roles import engineer

    ws = open_ws(args)
    info = product_svc.get_product(ws, args.product)
    engine_state.require_draft(ws, info)  # refused before the password is asked
    old = info.state_version
    version = engine_state.publish_draft(ws, args.product, actor=engineer(ws))
    info = product_svc.get_product(ws, args.product)
    print(f"published v{version} of '{shown(info.name)}' (was v{old}); threshold {info.threshold:.4f} — "
          "inspection, Live and serve use it from the next part")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from ..services import products as product_svc
    from ..services.inspect import check_batch, detector_for, inspect_paths

    # Every input is checked before the product may be refitted (a new state version) or recorded.
    if args.engine:
        product_svc.check_engine(args.engine)
    overlays = check_output_dir(args.save_overlays, "overlay folder") if args.save_overlays else None
    ws = open_ws(args)
    info = product_svc.get_product(ws, args.product)
    product_svc.check_engine_runs(args.engine or info.engine, info.engine_settings)
    device = _resolve_device(args.device)
    batch = check_batch(args.paths)
    with progress_bar("fit") as progress:
        det, note = detector_for(ws, args.product, args.engine, device, progress=progress)
    if note:
        print(note)
    n = ng = recheck = 0
    times = []
    skipped = []
    with progress_bar("inspect") as progress:
        for item in inspect_paths(ws, args.product, args.paths, det, source="batch",
                                  record=not args.no_record, save_overlays=overlays,
                                  station=args.station, operator=args.operator, named=batch,
                                  progress=progress if len(batch) > 1 else None):
            if item.error:
                skipped.append(item)
                print(f"SKIPPED  {shown(item.path)}: {shown(item.error)}")
                continue
            r = item.result
            n += 1
            ng += r.is_ng
            recheck += r.is_recheck
            times.append(r.timings_ms["total"])
            where = f"  {len(r.regions)} region(s)" if r.is_ng else ""
            print(f"{r.verdict:<2}  {r.score:8.4f}  (thr {r.threshold:.4f})  {r.timings_ms['total']:6.1f} ms  "
                  f"{shown(item.path)}{where}")
    times.sort()
    median = f"; median {times[len(times) // 2]:.1f} ms/image" if times else ""
    print(f"{n} image(s): {n - ng - recheck} OK, {ng} NG ({ng / max(n, 1):.1%})"
          + (f", {recheck} RECHECK" if recheck else "") + median
          + ("" if args.no_record or not n else "; recorded in history")
          + (f"; {len(skipped)} skipped (unreadable, listed above)" if skipped else ""))
    if skipped and not n:
        reasons = "; ".join(f"{shown(i.path.name)}: {i.error}" for i in skipped[:3])
        print(f"error: none of the {len(skipped)} image(s) could be read ({reasons}) — "
              "check the files and try again", file=sys.stderr)
        return 1
    return 2 if (args.fail_on_ng and ng) else 0  # RECHECK is not NG: a person decides it


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="fit and calibrate a product's engine on its references")
    p.add_argument("product")
    p.add_argument("--engine", help="switch the product to this engine")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("publish", help="publish the product's draft: inspection uses it from now on")
    p.add_argument("product")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("threshold", help="set the false-reject target or a fixed score as the threshold")
    p.add_argument("product")
    p.add_argument("--frr", type=float, metavar="PERCENT",
                   help="expected false-reject rate on good parts, in percent (e.g. 1); the threshold "
                   "follows it at every fit")
    p.add_argument("--score", type=float, metavar="S",
                   help="a fixed threshold score (NG when score >= S), kept across fits of the same "
                   "engine version")
    p.add_argument("--recheck-band", type=float, metavar="FRACTION",
                   help="scores within ± this fraction of the threshold get RECHECK (e.g. 0.05; 0 = off)")
    p.set_defaults(func=cmd_threshold)

    p = sub.add_parser("inspect", help="inspect images or folders and record the results")
    p.add_argument("product")
    p.add_argument("paths", nargs="+", metavar="IMAGES_OR_FOLDERS")
    p.add_argument("--engine", help="use this engine for this run (default: the product's)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--save-overlays", metavar="DIR", help="write result overlays as PNGs")
    p.add_argument("--no-record", action="store_true", help="do not store results in history")
    p.add_argument("--fail-on-ng", action="store_true", help="exit with code 2 when any image is NG (RECHECK is not NG)")
    p.add_argument("--station", default="", help="station name stored with each result")
    p.add_argument("--operator", default="", help="operator name stored with each result")
    p.set_defaults(func=cmd_inspect)


