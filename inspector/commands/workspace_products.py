"""`workspace init`, `products add|list|show|rename|delete`, `refs add|list|remove`."""

from __future__ import annotations

import argparse
import sys

from ..core import ignore_regions
from ..core.errors import InspectorError
from ..core.names import safe_display as shown
from ..services import products as product_svc
from ..services import references as ref_svc
from ..storage.workspace import describe_cleanup, init_workspace
from .common import fmt_threshold, open_ws, progress_bar, workspace_dir
from .roles import engineer


def _parse_tags(items: list[str]) -> dict[str, str]:
    tags = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InspectorError(f"tag '{item}' must look like key=value (e.g. material=steel)")
        tags[key.strip()] = value.strip()
    return tags


def cmd_workspace_init(args: argparse.Namespace) -> int:
    ws = init_workspace(workspace_dir(args) if args.path is None else args.path)
    if ws.cleaned:
        print(describe_cleanup(ws.cleaned), file=sys.stderr)
    print(f"workspace ready: {ws.root}")
    ws.close()
    return 0


def cmd_products_add(args: argparse.Namespace) -> int:
    tags = _parse_tags(args.tag)
    product_svc.check_engine(args.engine)  # inputs before the workspace is touched
    ws = open_ws(args)
    actor = engineer(ws)
    p = product_svc.create_product(ws, args.name, description=args.description, tags=tags,
                                   defect_words=args.defect or [], engine=args.engine, actor=actor)
    from ..engines.registry import get_engine

    if get_engine(p.engine).requirements.min_references == 0:  # zero-shot: inspect on day one
        nxt = f"inspect right away with `inspector inspect \"{shown(p.name)}\" IMAGES` (good images, added " \
              "later, calibrate its threshold)"
    else:
        nxt = f"add good images with `inspector refs add \"{shown(p.name)}\" FOLDER`"
    print(f"product '{shown(p.name)}' created (engine {p.engine}); {nxt}")
    return 0


def cmd_products_list(args: argparse.Namespace) -> int:
    items = product_svc.list_products(open_ws(args))
    if not items:
        print("no products yet; create one with `inspector products add NAME`")
        return 0
    width = max(len(shown(p.name)) for p in items)
    print(f"{'name':<{width}}  {'refs':>5}  {'engine':<10}  threshold")
    for p in items:
        print(f"{shown(p.name):<{width}}  {p.n_references:>5}  {shown(p.engine):<10}  {fmt_threshold(p.threshold)}")
    return 0


def _print_recipes(ws, p) -> None:  # noqa: ANN001 - Workspace, ProductInfo
    """Published and draft side by side: what inspection runs and what waits for `inspector publish`."""
    from ..services import engine_state

    pub = engine_state.state_summary(ws, p, p.state_version) if p.state_path else None
    draft_v = engine_state.draft_version(ws, p)
    draft = engine_state.state_summary(ws, p, draft_v)
    if pub is None:
        return
    cols = [("published", pub)] + ([("draft", draft)] if draft else [])

    def row(label: str, fmt) -> None:  # noqa: ANN001
        print(f"  {label:<18}" + "".join(f"{fmt(c):<22}" for _, c in cols))

    print("recipe:")
    print(f"  {'':<18}" + "".join(f"{name:<22}" for name, _ in cols))
    row("version", lambda c: f"v{c['version']}")
    row("engine", lambda c: shown(c["engine"]))
    row("threshold", lambda c: f"{c['threshold']:.4f}")
    row("false-reject target", lambda c: c["target_text"])
    row("held-out scores", lambda c: str(c["good_scores"]))
    row("synthetic recall", lambda c: "-" if c["synthetic_recall"] is None else f"{c['synthetic_recall']:.0%}")
    row("fitted at", lambda c: c["fitted_at"] or "-")
    note = engine_state.draft_pending_note(ws, p.name)
    if note:
        print(f"  {note}")


def cmd_products_show(args: argparse.Namespace) -> int:
    ws = open_ws(args)
    p = product_svc.get_product(ws, args.name)
    print(f"name:          {shown(p.name)}")
    print(f"description:   {shown(p.description)}")
    print(f"tags:          {shown(', '.join(f'{k}={v}' for k, v in p.tags.items())) or '-'}")
    print(f"defect words:  {shown(', '.join(p.defect_words)) or '-'}")
    print(f"engine:        {shown(p.engine)}")
    from ..services import engine_state

    boxes = engine_state.ignore_regions_of(p)
    print(f"ignore:        {ignore_regions.describe(boxes)}"
          + "".join(f"\n  {x0:.3f},{y0:.3f},{x1:.3f},{y1:.3f}" for x0, y0, x1, y1 in boxes))

    cal = engine_state.get_calibration(ws, p.name)
    how = "a fixed score" if cal is not None and cal.fixed_score else f"target false-reject rate {p.target_frr:.1%}"
    print(f"threshold:     {fmt_threshold(p.threshold)} ({how})")
    print(f"fitted state:  {'v%d' % p.state_version if p.state_path else 'not fitted'}")
    _print_recipes(ws, p)
    print(f"references:    {p.n_references}")
    for r in ref_svc.list_references(ws, args.name):
        print(f"  #{r.id:<5} {r.width}x{r.height}  {shown(r.original_name)}  ->  {r.path}")
    return 0


def cmd_products_rename(args: argparse.Namespace) -> int:
    ws = open_ws(args)
    p = product_svc.rename_product(ws, args.name, args.new_name, actor=engineer(ws))
    print(f"renamed to '{shown(p.name)}'")
    return 0


def cmd_products_update(args: argparse.Namespace) -> int:
    fields: dict = {}
    if args.description is not None:
        fields["description"] = args.description
    if args.tag is not None:
        fields["tags"] = _parse_tags(args.tag)
    if args.defect is not None:
        fields["defect_words"] = list(args.defect)
    if args.engine is not None:
        fields["engine"] = product_svc.check_engine(args.engine)
    boxes = None
    if args.clear_ignore and args.ignore:
        raise InspectorError("give --ignore or --clear-ignore, not both")
    if args.clear_ignore:
        boxes = []
    elif args.ignore:
        boxes = [ignore_regions.parse_box(b) for b in args.ignore]
    if not fields and boxes is None:
        raise InspectorError("nothing to update — give --description, --tag, --defect, --engine, --ignore "
                             "or --clear-ignore")
    ws = open_ws(args)
    product_svc.get_product(ws, args.name)  # an unknown product before the password prompt
    actor = engineer(ws)
    p = product_svc.update_product(ws, args.name, actor=actor, **fields) if fields else None
    if boxes is not None:
        from ..services import engine_state

        p = engine_state.set_ignore_regions(ws, args.name, boxes, actor=actor)
        fields["ignore regions"] = boxes
    print(f"product '{shown(p.name)}' updated ({', '.join(sorted(fields))})"
          + ("; refit it with `inspector fit`" if fields.keys() & {"engine", "ignore regions"} else ""))
    return 0


def cmd_products_delete(args: argparse.Namespace) -> int:
    ws = open_ws(args)
    name = product_svc.get_product(ws, args.name).name  # unknown product: clear error before prompting
    actor = engineer(ws)
    confirm = args.confirm
    if confirm is None:
        if not sys.stdin.isatty():
            raise InspectorError(f"deleting '{shown(name)}' needs confirmation — pass "
                                 f"--confirm \"{shown(args.name)}\"")
        confirm = input(f"This deletes '{shown(name)}', its references and history. "
                        "Type the product name to confirm: ")
    product_svc.delete_product(ws, args.name, confirm, actor=actor)
    print(f"product '{shown(name)}' deleted")
    return 0


def cmd_refs_add(args: argparse.Namespace) -> int:
    ws = open_ws(args)
    product_svc.get_product(ws, args.product)  # an unknown product before the password prompt
    actor = engineer(ws)
    with progress_bar("refs") as progress:
        added, skipped = ref_svc.add_references(ws, args.product, args.paths, progress=progress, actor=actor)
    for msg in skipped:
        print(f"skipped {shown(msg)}")
    p = product_svc.get_product(ws, args.product)
    print(f"added {len(added)} reference image(s) to '{shown(p.name)}' ({p.n_references} in all)")
    return 0


def cmd_refs_list(args: argparse.Namespace) -> int:
    for r in ref_svc.list_references(open_ws(args), args.product):
        print(f"#{r.id:<5} {r.width}x{r.height}  {shown(r.original_name)}  ->  {r.path}")
    return 0


def cmd_refs_remove(args: argparse.Namespace) -> int:
    ws = open_ws(args)
    actor = engineer(ws)
    for rid in args.ids:
        ref_svc.remove_reference(ws, args.product, rid, actor=actor)
    print(f"removed {len(args.ids)} reference(s)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    w = sub.add_parser("workspace", help="create or upgrade a workspace").add_subparsers(
        dest="action", required=True)
    p = w.add_parser("init", help="create a workspace folder (or upgrade an existing one)")
    p.add_argument("path", nargs="?", help="folder (default: --workspace or the per-user folder)")
    p.set_defaults(func=cmd_workspace_init)

    prod = sub.add_parser("products", help="manage products").add_subparsers(dest="action", required=True)
    p = prod.add_parser("add", help="create a product")
    p.add_argument("name")
    p.add_argument("--description", default="")
    p.add_argument("--tag", action="append", metavar="KEY=VALUE", help="e.g. material=steel object=washer")
    p.add_argument("--defect", action="append", metavar="WORD", help="defect word, e.g. scratch")
    p.add_argument("--engine", default="standalone")
    p.set_defaults(func=cmd_products_add)
    prod.add_parser("list", help="list products").set_defaults(func=cmd_products_list)
    p = prod.add_parser("show", help="show one product")
    p.add_argument("name")
    p.set_defaults(func=cmd_products_show)
    p = prod.add_parser("rename", help="rename a product")
    p.add_argument("name")
    p.add_argument("new_name")
    p.set_defaults(func=cmd_products_rename)
    p = prod.add_parser("update", help="change a product's description, tags, defect words or engine")
    p.add_argument("name")
    p.add_argument("--description")
    p.add_argument("--tag", action="append", metavar="KEY=VALUE", help="replaces all tags")
    p.add_argument("--defect", action="append", metavar="WORD", help="replaces all defect words")
    p.add_argument("--engine")
    p.add_argument("--ignore", action="append", metavar="X0,Y0,X1,Y1",
                   help="a box not to inspect, in fractions of the image's width and height (e.g. 0,0,0.1,1: "
                        "the left tenth); repeat for more; replaces all; takes effect with the next fit")
    p.add_argument("--clear-ignore", action="store_true", help="inspect the whole image again")
    p.set_defaults(func=cmd_products_update)
    p = prod.add_parser("delete", help="delete a product with its files (asks for the name)")
    p.add_argument("name")
    p.add_argument("--confirm", metavar="NAME", help="the product name again, to confirm without a prompt")
    p.set_defaults(func=cmd_products_delete)

    refs = sub.add_parser("refs", help="manage a product's good reference images").add_subparsers(
        dest="action", required=True)
    p = refs.add_parser("add", help="add good images (files or folders)")
    p.add_argument("product")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_refs_add)
    p = refs.add_parser("list", help="list a product's references")
    p.add_argument("product")
    p.set_defaults(func=cmd_refs_list)
    p = refs.add_parser("remove", help="remove references by id")
    p.add_argument("product")
    p.add_argument("ids", nargs="+", type=int)
    p.set_defaults(func=cmd_refs_remove)
