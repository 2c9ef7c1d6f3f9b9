"""`generate` (synthetic defects into a set), `synth list|show|accept|reject|refilter|export|delete`
and `generate-bench`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.errors import InspectorError
from .common import open_ws


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {v}")
    return v


def _params(items: list[str] | None) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InspectorError(f"--param '{item}' must look like key=value")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


class ProgressBar:
    """A rich progress bar with the time left, on stderr, shown from the first update (so an
    error found before any work is one clean line)."""

    def __init__(self, description: str) -> None:
        self.description, self.bar, self.task = description, None, None

    def update(self, done: int, total: int | None, message: str = "") -> None:
        if self.bar is None:
            from rich.console import Console
            from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                                TextColumn("{task.fields[note]}"), console=Console(stderr=True))
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=total, note="")
        self.bar.update(self.task, completed=done, total=total, note=message)

    def print(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr)

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class RankLines:
    """Progress of one process among several: a plain line per sample, prefixed with its rank."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.last = prefix, None

    def update(self, done: int, total: int | None, message: str = "") -> None:
        if message and message != self.last:
            self.last = message
            print(f"{self.prefix}{done}/{total} {message}", file=sys.stderr, flush=True)

    def print(self, text: str) -> None:
        print(f"{self.prefix}{text}", file=sys.stderr, flush=True)

    def __enter__(self) -> "RankLines":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def cmd_generate(args: argparse.Namespace) -> int:
    from ..generate.shards import pin_gpu, resolve
    from ..services.synthetic import RunSettings, SampleFailure, check_set_name, default_set_name, generate_set

    shard = resolve(args.shard)
    params = _params(args.param)
    if args.method == "rules":
        if args.device == "cuda":
            print("note: the rule-based method runs on the CPU; --device is for diffusion methods", file=sys.stderr)
    else:
        params.setdefault("device", args.device)
        if args.device == "cpu" or (args.device == "auto" and not _has_cuda()):
            print(f"warning: {args.method} runs on the CPU here: expect minutes per 512 px sample (seconds on "
                  f"a GPU); the first step's progress line gives this machine's estimate", file=sys.stderr)
    settings = RunSettings(method=args.method, count=args.count, defect=args.defect or "", kind=args.kind or "",
                           scale=args.scale, per_image=args.per_image, seed=args.seed, params=params,
                           references=args.reference, filter=not args.no_filter, shard=shard)
    name = check_set_name(args.set_name or default_set_name(args.method, settings.defect, settings.kind, args.seed))
    if shard.split:  # one GPU per process: "cuda" means cuda:LOCAL_RANK here
        where = pin_gpu(shard) if args.method != "rules" else "cpu"
        print(f"{shard.prefix}indices i % {shard.world} == {shard.rank} of {args.count}, on {where}",
              file=sys.stderr, flush=True)
    ws = open_ws(args)
    made = kept = 0
    failures: list[SampleFailure] = []
    # only rank 0 draws the rich bar; the others print plain prefixed lines
    show = ProgressBar(f"{args.product}: {name}") if shard.rank == 0 else RankLines(shard.prefix)
    try:
        with show as bar:
            for item in generate_set(ws, args.product, name, settings, progress=bar.update):
                if isinstance(item, SampleFailure):
                    failures.append(item)
                    bar.print(f"warning: sample {item.index} skipped: {item.message}")
                    continue
                made += 1
                kept += item.accepted
        if shard.split:
            from ..services.synthetic import get_set

            whole = get_set(ws, args.product, name)
            print(f"{shard.prefix}set '{name}' now holds {whole.n_samples} of {whole.count} samples"
                  f"{'' if whole.n_samples >= whole.count else ' (the other processes may still be writing)'}",
                  file=sys.stderr, flush=True)
    finally:
        ws.close()
    dropped = made - kept
    tail = f", {dropped} dropped by the filter" if dropped else ""
    print(f"{shard.prefix}set '{name}' of '{args.product}': {made} new sample(s){tail}, {len(failures)} failed"
          + (f" (indices i % {shard.world} == {shard.rank})" if shard.split else ""), flush=True)
    if shard.rank != 0:
        return 0
    print(f"review: inspector synth show \"{args.product}\" {name}; "
          f"export: inspector synth export \"{args.product}\" {name} DEST")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from ..services.synthetic import list_sets

    ws = open_ws(args)
    try:
        sets = list_sets(ws, args.product)
    finally:
        ws.close()
    if not sets:
        print("no synthetic sets yet: make one with `inspector generate PRODUCT --count 20`")
        return 0
    print(f"{'product':<16}{'set':<28}{'method':<8}{'defect':<20}{'samples':>8}{'accepted':>9}  created")
    for s in sets:
        print(f"{s.product[:15]:<16}{s.name[:27]:<28}{s.method:<8}{s.defect[:19]:<20}"
              f"{s.n_samples:>8}{s.n_accepted:>9}  {s.created}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from ..services.synthetic import get_set

    ws = open_ws(args)
    try:
        s = get_set(ws, args.product, args.name)
    finally:
        ws.close()
    if args.json:
        print(json.dumps({"product": s.product, "name": s.name, "recipe": s.params, "folder": str(s.folder),
                          "samples": [{"id": x.id, "index": x.index, "image": str(x.image_path),
                                       "mask": str(x.mask_path), "defect": x.defect, "accepted": x.accepted,
                                       "filter": x.filter} for x in s.samples]}, indent=1))
        return 0
    print(f"set '{s.name}' of '{s.product}': method {s.method}, defect {s.defect}, seed {s.seed}")
    print(f"{s.n_samples} of {s.count} samples, {s.n_accepted} accepted; files in {s.folder}")
    print(f"{'id':>6}{'index':>7}  {'defect':<22}{'similarity':>11}{'change':>8}  decision")
    for x in s.samples:
        sim = "" if x.filter_score is None else f"{x.filter_score:.2f}"
        change = x.filter.get("change")
        why = x.filter.get("reason", "")
        decision = ("accepted" if x.accepted else "rejected") + (f" ({why})" if why and not x.accepted else "")
        print(f"{x.id:>6}{x.index:>7}  {x.defect[:21]:<22}{sim:>11}{'' if change is None else f'{change:.1f}':>8}  {decision}")
    return 0


def _review(args: argparse.Namespace, accepted: bool) -> int:
    from ..services.synthetic import set_accepted

    ws = open_ws(args)
    try:
        for sid in args.ids:
            set_accepted(ws, sid, accepted)
    finally:
        ws.close()
    print(f"{len(args.ids)} sample(s) {'accepted' if accepted else 'rejected'}")
    return 0


def cmd_refilter(args: argparse.Namespace) -> int:
    from ..services.synthetic import refilter_set

    thresholds = {k: v for k, v in (("min_similarity", args.min_similarity), ("min_change", args.min_change))
                  if v is not None}
    ws = open_ws(args)
    try:
        kept, dropped = refilter_set(ws, args.product, args.name, thresholds)
    finally:
        ws.close()
    print(f"set '{args.name}': {kept} kept, {dropped} dropped (samples you reviewed keep your decision)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..services.synthetic import export_set

    ws = open_ws(args)
    try:
        with ProgressBar(f"exporting {args.name}") as bar:
            out = export_set(ws, args.product, args.name, Path(args.dest), args.include_rejected,
                             progress=bar.update)
    finally:
        ws.close()
    print(f"exported to {out} (MVTec-AD layout: train/good, test/<defect>, ground_truth/<defect>)")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from ..services.synthetic import delete_set

    if args.yes != args.name:
        raise InspectorError(f"deleting set '{args.name}' removes its files — confirm with --yes {args.name}")
    ws = open_ws(args)
    try:
        n = delete_set(ws, args.product, args.name)
    finally:
        ws.close()
    print(f"deleted set '{args.name}' ({n} samples)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ..services.benchmark import machine_description
    from ..services.synthetic import bench_method

    with ProgressBar(f"{args.method} at {args.size} px") as bar:
        r = bench_method(args.method, args.size, args.n, args.kind or "", args.seed, not args.no_encode,
                         progress=bar.update, params=_params(args.param))
    r["machine"] = machine_description("cpu")
    print(f"{r['method']} ({r['version']}) at {r['size']}x{r['size']}, {r['n']} samples"
          f"{' incl. PNG encoding' if r['encode'] else ''} on {r['machine']}")
    print(f"  {r['samples_per_s']:.1f} samples/s; per sample p50 {r['ms_p50']:.1f} ms, p95 {r['ms_p95']:.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1))
        print(f"wrote {args.json}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="make synthetic defects of a product into a set (resumable)")
    p.add_argument("product")
    p.add_argument("--method", default="rules", help="rules (default), cut or inpaint (see `inspector synth methods`)")
    p.add_argument("--count", type=_positive, default=20, help="samples in the set (default 20)")
    p.add_argument("--defect", metavar="WORD", help="defect word (default: cycle through the product's words)")
    p.add_argument("--kind", help="rule-based kind, overriding the word (scratch, dent, poisson, ...)")
    p.add_argument("--scale", type=float, default=1.0, help="defect size factor (default 1)")
    p.add_argument("--per-image", type=_positive, default=1, help="defects per sample (default 1)")
    p.add_argument("--set-name", metavar="NAME", help="set to make or resume (default from method, defect, seed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reference", type=int, action="append", metavar="ID", help="use only these reference ids")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="method parameter (repeatable)")
    p.add_argument("--no-filter", action="store_true", help="keep every sample (no retrieval filter)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--shard", metavar="K/N", help="make only indices i with i %% N == K (run N processes at "
                   "once); under torchrun or `accelerate launch` the split comes from RANK/WORLD_SIZE")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("generate-bench", help="measure a generation method's samples per second")
    p.add_argument("--method", default="rules")
    p.add_argument("--size", type=_positive, default=512)
    p.add_argument("--n", type=_positive, default=200)
    p.add_argument("--kind", help="rules: only this kind (default: all, at random); cut: the defect word")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-encode", action="store_true", help="generation only, without PNG encoding")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="method parameter, e.g. steps=50 device=cuda model=sd15 (repeatable)")
    p.add_argument("--json", metavar="FILE")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("synth", help="synthetic sets: list, show, accept/reject, export, delete")
    ss = p.add_subparsers(dest="synth_command", metavar="ACTION", required=True)
    q = ss.add_parser("methods", help="generation methods and whether they can run here")
    q.set_defaults(func=cmd_methods)
    q = ss.add_parser("list", help="sets of one product or all")
    q.add_argument("product", nargs="?")
    q.set_defaults(func=cmd_list)
    q = ss.add_parser("show", help="a set's samples with filter scores and decisions")
    q.add_argument("product")
    q.add_argument("name")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_show)
    for action, accepted in (("accept", True), ("reject", False)):
        q = ss.add_parser(action, help=f"{action} samples by id (overrides the filter)")
        q.add_argument("ids", type=int, nargs="+", metavar="ID")
        q.set_defaults(func=lambda a, acc=accepted: _review(a, acc))
    q = ss.add_parser("refilter", help="re-decide unreviewed samples with new filter thresholds")
    q.add_argument("product")
    q.add_argument("name")
    q.add_argument("--min-similarity", type=float)
    q.add_argument("--min-change", type=float)
    q.set_defaults(func=cmd_refilter)
    q = ss.add_parser("export", help="export accepted samples as an MVTec-AD category folder")
    q.add_argument("product")
    q.add_argument("name")
    q.add_argument("dest")
    q.add_argument("--include-rejected", action="store_true")
    q.set_defaults(func=cmd_export)
    q = ss.add_parser("delete", help="delete a set and its files")
    q.add_argument("product")
    q.add_argument("name")
    q.add_argument("--yes", metavar="NAME", help="the set's name again, to confirm")
    q.set_defaults(func=cmd_delete)


def cmd_methods(args: argparse.Namespace) -> int:
    from ..generate.registry import methods

    for m in methods():
        status = m.availability()
        print(f"{m.id:<8}{m.title:<28}{'available' if status.ok else 'unavailable: ' + status.message()}")
    return 0
