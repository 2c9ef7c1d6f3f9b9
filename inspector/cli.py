"""The `inspector` command line: the headless front door, using the same services as the GUI."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from pathlib import Path
from typing import Optional, Sequence

from . import __version__
from .core.errors import InspectorError, user_message
from .core.names import safe_display

# Modules with a `register(subparsers)` function, in help order. Each is imported when the
# parser is built; heavy libraries are imported inside the command functions.
COMMAND_MODULES = [
    "inspector.commands.workspace_products",
    "inspector.commands.history",
    "inspector.commands.inspection",
    "inspector.commands.evaluate",
    "inspector.commands.demo",
    "inspector.commands.serve",
    "inspector.commands.generate",
    "inspector.commands.roles",
    "inspector.weights.cli",
    "inspector.commands.train",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inspector", description="Inspector: quality inspection for factory workstations.")
    parser.add_argument("--version", action="version", version=f"inspector {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation without a display (temporary folder) and print PASS or FAIL")
    parser.add_argument("-w", "--workspace", metavar="DIR",
                        help="workspace folder (default: $INSPECTOR_WORKSPACE or the per-user folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # a name a terminal cannot encode is escaped, not a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.self_test:  # before anything else reads the user's settings or folders
            from .selftest import run_self_test
            return run_self_test()
        from .weights.locations import configure_environment

        # Before any engine imports transformers/huggingface_hub: offline, caches in the models folder.
        configure_environment(getattr(args, "models_dir", None))
        if not getattr(args, "func", None):  # no command: the desktop application
            from .launch import open_window
            return open_window(Path(args.workspace).expanduser() if args.workspace else None)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, so a closed pipe is caught below rather than at exit
        return code
    except InspectorError as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `inspector history | head`: the reader left; not an error to report
        _silence_stdout()
        return 1
    except Exception as exc:  # noqa: BLE001 - the front door: a message, never a traceback
        if os.environ.get("INSPECTOR_DEBUG") == "1":
            raise
        message = user_message(exc)
        if message is not None:
            return _error(message)
        return _unexpected(exc, argv)


def _error(message: str) -> int:
    print(f"error: {safe_display(message, keep_newlines=True)}", file=sys.stderr)
    return 1


def _unexpected(exc: BaseException, argv: Sequence[str]) -> int:
    """A bug: one line on the terminal, the traceback in the log file (INSPECTOR_DEBUG=1 shows it)."""
    from .core.crash_log import write_crash_log

    what = f"unexpected {type(exc).__name__}: {exc}" if str(exc) else f"unexpected {type(exc).__name__}"
    try:
        where = f"details in {write_crash_log(exc, argv)}"
    except OSError as log_exc:
        traceback.print_exception(exc, file=sys.stderr)
        where = f"the log could not be written ({log_exc.strerror or log_exc}), so the details are above"
    return _error(f"{what} — this is a bug; {where} (rerun with INSPECTOR_DEBUG=1 to see them here)")


def _silence_stdout() -> None:
    try:  # further writes at exit would raise again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
