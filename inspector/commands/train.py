"""`train` a product's local detector and manage its versions with `detectors`."""

from __future__ import annotations

import argparse
import sys

from ..core.names import safe_display
from .common import open_ws, positive_int, progress_bar


def _fmt(v) -> str:
    return "  n/a" if v is None or v != v else f"{v:.3f}"


def cmd_train(args: argparse.Namespace) -> int:
    from ..engines.registry import resolve_device
    from ..services import training
    from ..train.loop import TrainConfig
    from ..train.vlad_adapters import VladTrainConfig

    training.check_base(args.base)
    stages = training.parse_stages(args.stages)
    device = resolve_device(args.device)
    config_class = VladTrainConfig if args.base == "vlad" else TrainConfig
    cfg = config_class(stages=stages, device=device, seed=args.seed)
    if args.epochs:
        cfg.epochs = args.epochs
    if args.samples:
        cfg.samples_per_epoch = args.samples
    cfg.check()
    ws = open_ws(args)
    with progress_bar("train") as bar:
        def on_progress(p) -> None:
            bar(p.samples, p.total_samples, f"epoch {p.epoch}/{p.epochs} {p.stage} loss {p.loss:.3f} "
                                            f"{p.samples_per_s:.1f} samples/s")
            if p.validation is not None:
                v = p.validation
                print(f"epoch {p.epoch}/{p.epochs} ({p.stage}): loss {p.loss:.3f}, validation I-AUROC "
                      f"{_fmt(v['i_auroc'])} P-AUROC {_fmt(v['p_auroc'])} PRO {_fmt(v['pro'])}, "
                      f"{p.seconds_left:.0f} s left", file=sys.stderr, flush=True)

        det = training.train_product(ws, args.product, cfg, args.base, args.resume, on_progress,
                                     status=lambda m: bar(0, 0, m), use_sets=not args.no_sets)
    if det is None:  # a secondary process of `accelerate launch`: the main one reports
        return 0
    val = det.metrics.get("validation", {})
    print(f"trained detector v{det.version} of '{safe_display(args.product)}' (not active yet)")
    print(f"{'validation':<12}{'I-AUROC':>9}{'P-AUROC':>9}{'PRO':>8}")
    for name in (args.base, "local"):  # the untrained engine, then the trained detector
        m = val.get(name, {})
        print(f"{name:<12}{_fmt(m.get('i_auroc')):>9}{_fmt(m.get('p_auroc')):>9}{_fmt(m.get('pro')):>8}")
    diffusion = next((s for s in det.training_set.get("stages", []) if s["stage"] == "diffusion"), None)
    if det.training_set.get("diffusion_proxy"):
        why = "--no-sets was given" if args.no_sets else "the product has no accepted CUT / inpainting sample"
        print("note: stage 'diffusion' used rule family " + ", ".join(diffusion["kinds"]) + f" as a stand-in: {why}")
    elif diffusion is not None:
        print(f"stage 'diffusion' trained on {diffusion['synthetic_samples']} accepted samples of the product's "
              "CUT / inpainting sets")
    print(f"use it: inspector detectors activate \"{safe_display(args.product)}\" {det.version}")
    return 0


def cmd_detectors(args: argparse.Namespace) -> int:
    from ..engines.registry import resolve_device
    from ..services import training

    ws = open_ws(args)
    if args.action == "list":
        dets = training.list_detectors(ws, args.product)
        if not dets:
            print(f"no detectors for '{safe_display(args.product)}' yet: inspector train \"{safe_display(args.product)}\"")
            return 0
        print(f"{'version':<9}{'active':<8}{'base':<12}{'created':<18}{'I-AUROC':>9}{'P-AUROC':>9}{'PRO':>8}")
        for d in dets:
            m = d.metrics.get("validation", {}).get("local", {})
            print(f"v{d.version:<8}{'yes' if d.active else '':<8}{d.base_engine:<12}"
                  f"{d.created_at:%Y-%m-%d %H:%M}  {_fmt(m.get('i_auroc')):>9}{_fmt(m.get('p_auroc')):>9}"
                  f"{_fmt(m.get('pro')):>8}")
        return 0
    if args.action == "delete":
        if args.version is None:
            from ..core.errors import InspectorError
            raise InspectorError("detectors delete needs a VERSION — see `inspector detectors list PRODUCT`")
        from .roles import engineer

        engineer(ws)
        training.delete_detector(ws, args.product, args.version)
        print(f"deleted detector v{args.version} of '{safe_display(args.product)}'")
        return 0
    from .roles import engineer

    actor = engineer(ws)  # what the line runs changes: engineer only, audited
    device = resolve_device(args.device)
    with progress_bar("activate") as bar:
        if args.action == "rollback":
            det = training.roll_back(ws, args.product, device, bar, actor=actor)
        else:
            if args.version is None:
                from ..core.errors import InspectorError
                raise InspectorError("detectors activate needs a VERSION — see `inspector detectors list PRODUCT`")
            det = training.activate(ws, args.product, args.version, device, bar, actor=actor)
    print(f"detector v{det.version} is active for '{safe_display(args.product)}' (engine local, recalibrated)")
    return 0


def _version(text: str) -> int:
    return positive_int(text[1:] if text[:1] in "vV" else text)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a local detector on synthetic defects of the product's references")
    p.add_argument("product")
    p.add_argument("--base", default="standalone",
                   help="standalone (default): a head on the weights-free engine; vlad: VLAD's adapters (CLIP weights)")
    p.add_argument("--stages", default="rules", help="rules, diffusion, or both in order (rules,diffusion)")
    p.add_argument("--no-sets", action="store_true",
                   help="stage 'diffusion': use a rule family instead of the product's accepted CUT / inpainting samples")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--samples", type=positive_int, help="samples per epoch of the rule-based stage")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--resume", action="store_true", help="continue the last cancelled or interrupted run")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("detectors", help="list, activate, roll back or delete a product's local detectors")
    p.add_argument("action", choices=("list", "activate", "rollback", "delete"))
    p.add_argument("product")
    p.add_argument("version", nargs="?", type=_version)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.set_defaults(func=cmd_detectors)
