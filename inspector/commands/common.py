"""Helpers shared by CLI commands."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from ..core.errors import InspectorError, user_message
from ..core.names import safe_display
from ..core.progress import ProgressFn
from ..storage.workspace import Workspace, default_workspace_dir, describe_cleanup, open_workspace


def workspace_dir(args: argparse.Namespace) -> Path:
    return Path(args.workspace).expanduser() if args.workspace else default_workspace_dir()


def open_ws(args: argparse.Namespace) -> Workspace:
    ws = open_workspace(workspace_dir(args))
    if ws.cleaned:  # leftovers of an interrupted write, removed on opening: say so in one line
        print(describe_cleanup(ws.cleaned), file=sys.stderr)
    return ws


def describe_threshold(cal) -> str:  # noqa: ANN001 - an engines.detector.Calibration
    """'2.3456 for a 1.0% false-reject target', or for a fixed score what it does to the good images."""
    if not cal.fixed_score:
        return f"{cal.threshold:.4f} for a {cal.target_frr:.1%} false-reject target"
    from ..core.thresholds import expected_frr

    n = len(cal.good_scores)
    seen = f"; it rejects {round(expected_frr(cal.good_scores, cal.threshold) * n)} of the {n} held-out good images" if n else ""
    return f"{cal.threshold:.4f}, a fixed score{seen}"


def fmt_threshold(value: float | None) -> str:
    return "not calibrated" if value is None else f"{value:.4f}"


# --- outputs named on the command line: checked before any work or change -----------------

NAME_MAX_BYTES = 255  # one path component on ext4, NTFS, APFS, XFS


def _check_output(path: str | Path, what: str, folder: bool, example: str = "out.txt") -> Path:
    """Refuse an output path that cannot be created (a component too long, a file where a folder
    is needed, no permission). Leaves nothing behind: only a probe file, removed at once."""
    path = Path(path).expanduser()
    shown = safe_display(path)
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX_BYTES:
            raise InspectorError(f"cannot write the {what} {shown[:80]}…: the name '{safe_display(part)[:40]}…' "
                                 f"is too long ({len(os.fsencode(part))} bytes) — use file and folder "
                                 f"names of at most {NAME_MAX_BYTES} bytes")
    try:
        if path.exists():
            if folder and not path.is_dir():
                raise InspectorError(f"the {what} {shown} is a file — give a folder")
            if not folder and path.is_dir():
                raise InspectorError(f"the {what} {shown} is a folder — give a file name such as "
                                     f"{safe_display(path / example)}")
        ancestor = path.parent if not folder or not path.exists() else path
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise InspectorError(f"cannot write the {what} {shown}: {safe_display(ancestor)} is a file, "
                                 "not a folder — choose another path")
    except OSError as exc:
        raise InspectorError(f"cannot write the {what} {shown}: {user_message(exc) or exc}") from None
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InspectorError(f"cannot write the {what} {shown}: no permission to write in "
                             f"{safe_display(ancestor)} — choose a folder you may write to")
    try:  # the only proof for root, /proc and network drives: create a file there and remove it
        fd, probe = tempfile.mkstemp(prefix=".tmp-inspector-probe-", dir=ancestor)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InspectorError(f"cannot write the {what} {shown}: no file can be created in "
                             f"{safe_display(ancestor)} ({exc.strerror or exc}) — choose a folder you "
                             "may write to") from None
    return path


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    return at_least(1)(text)


def at_least(low: int):  # noqa: ANN201 - an argparse type
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {v}")
        return v
    return parse


def check_output_file(path: str | Path, what: str, example: str = "out.txt") -> Path:
    return _check_output(path, what, folder=False, example=example)


def check_output_dir(path: str | Path, what: str) -> Path:
    return _check_output(path, what, folder=True)


# --- progress of long commands on stderr ----------------------------------------------------

@contextmanager
def progress_bar(label: str) -> Iterator[ProgressFn]:
    """A progress callback for long work: a rich bar with time left when stderr is a terminal,
    otherwise one line per stage (the message's first word: "calibrating:", "inspecting", ...).
    Nothing is shown until the work reports progress (loading a fitted state shows no bar)."""
    if not sys.stderr.isatty():
        last: list[Optional[str]] = [None]

        def plain(done: int, total: int, message: str) -> None:
            stage = message.split(" ", 1)[0]
            if stage != last[0]:
                last[0] = stage
                print(f"{label}: {safe_display(message)}", file=sys.stderr, flush=True)
        yield plain
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    # stdout lines (one per image) go above the bar only when stdout is the same terminal
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   TextColumn("left  {task.fields[message]}"), console=Console(stderr=True), transient=True,
                   redirect_stdout=sys.stdout.isatty(), redirect_stderr=False)
    task: list[int] = []

    def show(done: int, total: int, message: str) -> None:
        if not task:
            bar.start()
            task.append(bar.add_task(label, total=None, message=""))
        bar.update(task[0], completed=done, total=total or None, message=safe_display(message)[:50])
    try:
        yield show
    finally:
        if task:
            bar.stop()
