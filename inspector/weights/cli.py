"""`inspector models list | import PATH | verify [ID...] | download ID`.

Every handler calls `configure_environment()` before anything imports huggingface_hub,
transformers or torch; `download` turns hub access on for its own request.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

from .locations import configure_environment, models_dir
from .manifest import Manifest, load_manifest
from .verify import CORRUPT, MISSING, ModelStatus, VerifyCache, check_model
from ..core.units import format_bytes


def _root(args: argparse.Namespace) -> Path:
    return Path(args.models_dir).expanduser() if args.models_dir else models_dir()


def _setup(args: argparse.Namespace, offline: bool = True) -> tuple[Manifest, Path]:
    root = _root(args)
    configure_environment(root, offline=offline)
    return load_manifest(args.manifest), root


class _ConsoleProgress:
    """A one-line progress display on stderr (terminals only), redrawn at most 5 times a second."""

    def __init__(self) -> None:
        self.last, self.shown, self.width = 0.0, False, 0
        self.enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int, message: str) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.2 and done != total):
            return
        self.last = now
        amount = f"{format_bytes(done)} / {format_bytes(total)}" if total else format_bytes(done)
        line = f"{message}: {amount}"
        print("\r" + line.ljust(self.width), end="", file=sys.stderr, flush=True)
        self.width, self.shown = max(self.width, len(line)), True

    def end(self) -> None:
        if self.shown:
            print(file=sys.stderr)
            self.shown = False


def _print_table(statuses: list[ModelStatus], manifest: Manifest, root: Path) -> None:
    rows = []
    for st in statuses:
        spec = manifest.get(st.model_id)
        where = str(st.path) if st.path is not None and st.status != MISSING else ""
        note = st.detail if st.status == CORRUPT else where
        rows.append((st.model_id, st.status, format_bytes(st.size), ", ".join(spec.engines), note))
    header = ("id", "status", "size", "engines", "path / problem")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    for r in [header] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])


def cmd_list(args: argparse.Namespace) -> int:
    manifest, root = _setup(args)
    cache = VerifyCache(root)
    statuses = [check_model(spec, root, cache=cache) for spec in manifest.models]
    _print_table(statuses, manifest, root)
    print(f"\nmodels folder: {root}")
    if any(st.status == MISSING for st in statuses):
        print("get a missing model with `inspector models download ID` (online) or "
              "`inspector models import PATH` (files carried in)")
    if any(st.status == CORRUPT for st in statuses):
        print("corrupt models are never loaded: delete them and import or download them again")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    manifest, root = _setup(args)
    specs = [manifest.get(i) for i in args.ids] if args.ids else list(manifest.models)
    cache, bad = VerifyCache(root), False
    for spec in specs:
        progress = _ConsoleProgress()
        st = check_model(spec, root, full=True, cache=cache, progress=progress)
        progress.end()
        if st.status == MISSING:
            bad = bad or bool(args.ids)  # asking for a missing model by name is an error
            print(f"{spec.id}: missing")
        elif st.status == CORRUPT:
            bad = True
            print(f"{spec.id}: CORRUPT at {st.path}: {st.detail} — re-import it with "
                  "`inspector models import PATH` or download it again")
        else:
            print(f"{spec.id}: {st.status} ({format_bytes(st.size)}, {st.detail}) at {st.path}")
    return 1 if bad else 0


def cmd_import(args: argparse.Namespace) -> int:
    manifest, root = _setup(args)
    from .importer import import_path

    progress = _ConsoleProgress()
    try:
        results = import_path(args.path, manifest=manifest, root=root, progress=progress)
    finally:
        progress.end()
    for r in results:
        print(f"[{r.status}] {r.message}")
    # a folder may hold extra files we do not need; fail only when nothing came in or a copy was bad
    return 0 if any(r.ok for r in results) and not any(r.status == "corrupt" for r in results) else 1


def cmd_download(args: argparse.Namespace) -> int:
    manifest, root = _setup(args, offline=False)
    from .download import download

    spec = manifest.get(args.id)
    if args.urls:
        from .download import offline_message

        print(offline_message(spec, root))
        return 0
    progress = _ConsoleProgress()
    try:
        st = download(args.id, progress, manifest=manifest, root=root, force=args.force)
    finally:
        progress.end()
    print(f"{spec.id}: {st.status} ({format_bytes(st.size)}) at {st.path}")
    return 0 if st.usable else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `models` and its subcommands to the top-level parser's subparsers."""
    p = subparsers.add_parser("models", help="foundation model weights: list, import, verify, download",
                              description="Manage the large model weights used by the CLIP, SAM, "
                                          "Grounding DINO and Stable Diffusion engines.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--models-dir", metavar="DIR",
                        help="models folder (default: $INSPECTOR_MODELS_DIR, the checkout's models/, "
                             "or the per-user folder)")
    common.add_argument("--manifest", metavar="FILE", help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)

    s = sub.add_parser("list", parents=[common], help="show every known model and its status")
    s.set_defaults(func=cmd_list)
    s = sub.add_parser("import", parents=[common],
                       help="import weights from a file, folder, .zip or .tar.gz")
    s.add_argument("path", metavar="PATH")
    s.set_defaults(func=cmd_import)
    s = sub.add_parser("verify", parents=[common],
                       help="check checksums / structure (all present models by default)")
    s.add_argument("ids", nargs="*", metavar="ID")
    s.set_defaults(func=cmd_verify)
    s = sub.add_parser("download", parents=[common], help="download a model (needs internet access)")
    s.add_argument("id", metavar="ID")
    s.add_argument("--force", action="store_true", help="download even if the model is present")
    s.add_argument("--urls", action="store_true",
                   help="only print which files to fetch and from where (for offline machines)")
    s.set_defaults(func=cmd_download)


def main(argv: Optional[list[str]] = None) -> int:
    """Run `models ...` on its own (tests, or before the lead wires `register` in)."""
    from ..core.errors import InspectorError

    parser = argparse.ArgumentParser(prog="inspector")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except InspectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
