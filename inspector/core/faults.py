"""Named fault-injection points for the crash-safety tests (no effect in normal use).

`fault_point("state.after_rename")` does nothing unless the environment variable
INSPECTOR_FAULT names that point. Its value is `<point>[:<action>]`:

    kill           (default) end the process at once, as SIGKILL or a power cut would (exit 137)
    enospc         raise OSError(ENOSPC), as a full disk would
    eacces         raise PermissionError(EACCES), as a read-only folder would
    sleep=<s>      pause <s> seconds (to make two processes overlap in a known place)
    wait=<file>    create <file>.<pid> (so a test sees this process has arrived), then wait
                   until <file> exists (a barrier: two processes meet at the same step)

Several points may be given, separated by commas. The points are placed at every step of
every files-then-row write, so the tests can stop a real process exactly there.
"""

from __future__ import annotations

import errno
import os
import time

ENV = "INSPECTOR_FAULT"


def _actions(name: str) -> list[str]:
    spec = os.environ.get(ENV, "")
    if not spec:
        return []
    out = []
    for item in spec.split(","):
        point, _, action = item.strip().partition(":")
        if point == name:
            out.append(action or "kill")
    return out


def fault_point(name: str, path: str | os.PathLike | None = None) -> None:
    """Fail here if INSPECTOR_FAULT asks for it; `path` is the file the step is about to write."""
    for action in _actions(name):
        if action == "kill":
            os._exit(137)  # no cleanup, no atexit, no flush: what a kill leaves behind
        if action in ("enospc", "eacces"):
            code = errno.ENOSPC if action == "enospc" else errno.EACCES
            cls = PermissionError if code == errno.EACCES else OSError
            raise cls(code, os.strerror(code), None if path is None else os.fspath(path))
        if action.startswith("sleep="):
            time.sleep(float(action.partition("=")[2]))
            continue
        if action.startswith("wait="):
            go = action.partition("=")[2]
            with open(f"{go}.{os.getpid()}", "w"):
                pass
            deadline = time.monotonic() + 60
            while not os.path.exists(go) and time.monotonic() < deadline:
                time.sleep(0.02)
            continue
        raise ValueError(f"{ENV}: unknown action '{action}' for point '{name}'")
