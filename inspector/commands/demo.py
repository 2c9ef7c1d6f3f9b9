"""`inspector demo`: the main job on the embedded default, with nothing downloaded."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def cmd_demo(args: argparse.Namespace) -> int:
    from ..services.demo import create_demo_workspace, default_demo_dir, run_demo_product

    root = Path(args.workspace).expanduser() if args.workspace else default_demo_dir()
    print(f"demo workspace: {root}")
    ws, test_dirs = create_demo_workspace(root)
    reports = []
    for product, folder in test_dirs.items():
        print(f"\n== {product}: fitting the standalone engine on its references, inspecting test images")
        rep = run_demo_product(ws, product, folder)
        for line in rep.lines if args.verbose else []:
            print("  " + line)
        print(f"  {rep.n_references} references, threshold {rep.threshold:.3f}; "
              f"{rep.n_test} test images, {rep.n_ng} NG")
        reports.append(rep)

    def f(v: float) -> str:
        return "  n/a" if math.isnan(v) else f"{v:.3f}"

    print(f"\n{'product':<10}{'I-AUROC':>9}{'I-F1max':>9}{'P-AUROC':>9}{'P-F1max':>9}{'PRO':>8}")
    for r in reports:
        m = r.metrics
        print(f"{r.product:<10}{f(m['i_auroc']):>9}{f(m['i_f1max']):>9}{f(m['p_auroc']):>9}"
              f"{f(m['p_f1max']):>9}{f(m['pro']):>8}")
    print(f"\nresults are in the history: inspector -w {root} history fabric --verdict NG")
    ws.close()
    if args.headless:
        return 0
    from ..launch import display_problem, open_window

    problem = display_problem()
    if problem:  # the figures are printed; a missing or broken display only keeps the window closed
        print(f"the window stays closed ({problem.split(' — ')[0]}); on a desktop, `inspector demo` "
              "opens it on this workspace")
        return 0
    print("opening the window…")
    return open_window(root)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="create the demo workspace, fit, inspect and show the figures")
    p.add_argument("--headless", action="store_true", help="do not open the window afterwards (the default when there is no display)")
    p.add_argument("-v", "--verbose", action="store_true", help="print one line per test image")
    p.set_defaults(func=cmd_demo)
