"""The `inspector` command line: the headless front door, using the same services as the GUI."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import __version__
from .core.errors import InspectorError, user_message

# Modules with a `register(subparsers)` function, in help order. Each is imported when the
# parser is built; heavy libraries are imported inside the command functions.
COMMAND_MODULES = [
    "inspector.commands.workspace_products",
    "inspector.commands.history",
    "inspector.commands.inspection",
    "inspector.commands.evaluate",
    "inspector.commands.demo",
    "inspector.commands.generate",
    "inspector.weights.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inspector", description="Inspector: quality inspection for factory workstations.")
    parser.add_argument("--version", action="version", version=f"inspector {__version__}")
    parser.add_argument("-w", "--workspace", metavar="DIR",
                        help="workspace folder (default: $INSPECTOR_WORKSPACE or the per-user folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .weights.locations import configure_environment

    # Before any engine imports transformers/huggingface_hub: offline, caches in the models folder.
    configure_environment(getattr(args, "models_dir", None))
    try:
        if not getattr(args, "func", None):  # no command: the desktop application
            from .launch import open_window
            return open_window(Path(args.workspace).expanduser() if args.workspace else None)
        return int(args.func(args) or 0)
    except InspectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a known OS/database failure is a message, not a traceback
        message = user_message(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
