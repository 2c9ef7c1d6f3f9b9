"""Open the desktop window (Qt is imported only here, lazily, via inspector.gui).

Before Qt starts, the display is checked: Qt aborts the process (exit 134, no message a user
can act on) when DISPLAY names a display it cannot open.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import socket
import sys
from pathlib import Path
from typing import Optional

from .core.errors import InspectorError

HEADLESS_HINT = "or run the headless commands instead, e.g. `inspector demo --headless`"
# xcb_connection_has_error() codes (xcb.h) -> why
_XCB_ERRORS = {1: "no X server answers there, or it refused this user (check xauth / xhost)",
               2: "the X server lacks an extension", 3: "out of memory", 4: "a request was too long",
               5: "DISPLAY is not of the form [host]:number[.screen]",
               6: "that screen does not exist on the X server"}


def _x11_socket_problem(display: str) -> Optional[str]:
    """Whether an X server listens for `display` ([host]:n[.screen]); no protocol spoken."""
    m = re.fullmatch(r"(.*):(\d+)(?:\.\d+)?", display)
    if not m:
        return _XCB_ERRORS[5]
    host, number = m.group(1), int(m.group(2))
    if host.startswith("/"):  # a socket path (macOS XQuartz style)
        return None if Path(f"{host}:{number}").exists() else "its socket does not exist"
    if host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        for address in ("\0" + path, path):  # Linux abstract socket first, then the file
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(2)
                    s.connect(address)
                    return None
            except OSError:
                continue
        if host == "unix":
            return f"no X server is running for it (nothing listens on {path})"
        try:  # libxcb, too, falls back to TCP on this machine
            with socket.create_connection(("localhost", 6000 + number), timeout=2):
                return None
        except OSError:
            return f"no X server is running for it (nothing listens on {path} or localhost:{6000 + number})"
    try:
        with socket.create_connection((host, 6000 + number), timeout=2):
            return None
    except OSError as exc:
        return f"no X server answers at {host}:{6000 + number} ({exc.strerror or exc})"


def _x11_problem(display: str) -> Optional[str]:
    """Why Qt's xcb platform could not open `display`, or None: the socket first (with a
    time-out), then a real connection through libxcb as Qt makes it (authorisation included)."""
    problem = _x11_socket_problem(display)
    if problem:
        return problem
    lib = ctypes.util.find_library("xcb")
    if lib is None:
        return None  # Qt's plugin needs libxcb too; the socket answered, so let Qt try
    xcb = ctypes.CDLL(lib)
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        code = xcb.xcb_connection_has_error(conn)
    finally:
        xcb.xcb_disconnect(conn)
    if code:
        return _XCB_ERRORS.get(code, f"libxcb error {code}")
    if ctypes.util.find_library("xcb-cursor") is None:  # Qt >= 6.5's xcb plugin will not load without it
        return "the system library libxcb-cursor0 is missing (install it: sudo apt-get install libxcb-cursor0)"
    return None


def _wayland_problem(name: str) -> Optional[str]:
    path = Path(name) if name.startswith("/") else Path(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent")) / name
    return None if path.exists() else f"its socket {path} does not exist"


def display_problem() -> Optional[str]:
    """Why the window cannot open here, as `<what> — <what to do>`; None when it can."""
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0]
    if platform in ("offscreen", "minimal"):
        return (f"QT_QPA_PLATFORM={platform} shows nothing a person could see — unset it to open the "
                f"window, {HEADLESS_HINT}")
    if sys.platform != "linux" or platform not in ("", "xcb", "wayland", "wayland-egl"):
        return None  # Windows, macOS, or a platform the user chose on purpose (eglfs, vnc, ...)
    display = os.environ.get("DISPLAY", "")
    wayland = os.environ.get("WAYLAND_DISPLAY", "")
    if not display and (not wayland or platform == "xcb"):
        return f"no display to open the window on (DISPLAY is not set) — run it on a desktop, {HEADLESS_HINT}"
    if wayland and platform != "xcb" and _wayland_problem(wayland) is None:
        return None
    if display and not platform.startswith("wayland"):
        why = _x11_problem(display)
        if why is None:
            return None
        return (f"cannot open the display '{display}': {why} — start that display or set DISPLAY to a "
                f"running one, {HEADLESS_HINT}")
    return (f"cannot open the Wayland display '{wayland}': {_wayland_problem(wayland) or 'not usable'} — "
            f"start the desktop session or set WAYLAND_DISPLAY to a running one, {HEADLESS_HINT}")


def has_display() -> bool:
    return display_problem() is None


def open_window(workspace: Optional[Path] = None, open_demo: bool = False) -> int:
    problem = display_problem()
    if problem:
        raise InspectorError(problem)
    from .gui.app import run

    return run(workspace, open_demo=open_demo)
