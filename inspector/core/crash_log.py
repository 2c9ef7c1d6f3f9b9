"""Where an unexpected error's traceback goes: a log file in the user's data folder, so the
terminal shows one readable line and the details are still there for a bug report."""

from __future__ import annotations

import os
import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import Sequence

MAX_LOG_BYTES = 1024 * 1024  # then the log is moved to errors.log.1 (one old copy kept)


def user_data_dir() -> Path:
    """~/.local/share/inspector ($XDG_DATA_HOME) on Linux, %LOCALAPPDATA%\\Inspector on Windows."""
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "Inspector"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "inspector"


def log_path() -> Path:
    return user_data_dir() / "logs" / "errors.log"


def write_crash_log(exc: BaseException, argv: Sequence[str]) -> Path:
    """Append the time, the command line and the traceback of `exc`; returns the log file.
    Raises OSError when the log cannot be written (the caller then prints the traceback)."""
    from .. import __version__

    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size > MAX_LOG_BYTES:
        os.replace(path, path.with_name(path.name + ".1"))
    text = "".join(traceback.format_exception(exc))
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"--- {datetime.now().isoformat(timespec='seconds')}  inspector {__version__}  "
                f"python {sys.version.split()[0]}\n$ inspector {' '.join(argv)}\n{text}\n")
    return path
