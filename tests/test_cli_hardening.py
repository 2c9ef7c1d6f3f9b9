"""The CLI front door under user-caused faults (issue 9, items 1, 5, 6 and the progress display):
every fault is one `error: <what> — <what to do>` line, exit 1, and the workspace unchanged."""

from __future__ import annotations

import io
import os
import socket
import sqlite3
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import tree_snapshot
from test_eval_inspect_cli import mvtec  # noqa: F401 - the MVTec-layout fixture

import inspector.engines.registry as registry

LONG = "n" * 300  # one path component over the 255 bytes every common file system allows
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """A test engine that fits in milliseconds; the crash log in a temporary data folder."""
    spec = registry.EngineSpec("meandiff", "test", "test double", "test_calibration:MeanDiffModel",
                               registry.Requirements(), lambda s: registry.Availability(True))
    monkeypatch.setitem(registry.ENGINES, "meandiff", spec)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    monkeypatch.delenv("INSPECTOR_DEBUG", raising=False)


@pytest.fixture
def images(tmp_path) -> Path:
    """good/ (6 references), test/ (3 images), bad/ (2 unreadable files)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "img"
    for sub, n in (("good", 6), ("test", 3)):
        (root / sub).mkdir(parents=True)
        for i in range(n):
            a = np.clip(120 + rng.normal(0, 3, (48, 64, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(a).save(root / sub / f"{i:03d}.png")
    (root / "bad").mkdir()
    (root / "bad" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "bad" / "b.png").write_bytes((root / "good" / "000.png").read_bytes()[:90])
    return root


@pytest.fixture
def toy(cli, images):
    """A workspace with product 'toy' holding references but never fitted (the next inspect fits)."""
    cli("workspace", "init")
    assert cli("products", "add", "toy", "--engine", "meandiff")[0] == 0
    assert cli("refs", "add", "toy", images / "good")[0] == 0
    return cli


def _refused(cli, *args, msg: str, fix: bool = True) -> str:
    """Run a command that must be refused cleanly and change nothing; returns the error line.
    `fix`: the line names what to do after " — "."""
    before = tree_snapshot(cli.workspace)
    code, out, err = cli(*args)
    assert code == 1, (args, out, err)
    assert "Traceback" not in err, err
    line = err.strip().splitlines()[-1]  # progress lines may come before it
    assert line.startswith("error: ") and msg in line, err
    assert not fix or " — " in line, line
    assert tree_snapshot(cli.workspace) == before, args
    return line


# --- item 1: tracebacks become messages --------------------------------------------------------

def test_path_component_too_long(toy, images, mvtec, tmp_path):  # noqa: F811
    for args in (("refs", "add", "toy", tmp_path / LONG / "a.png"),
                 ("inspect", "toy", tmp_path / LONG),
                 ("inspect", "toy", images / "test", "--save-overlays", tmp_path / LONG),
                 ("history", "--csv", tmp_path / f"{LONG}.csv"),
                 ("eval", mvtec, "--engine", "meandiff", "--json", tmp_path / LONG / "r.json")):
        _refused(toy, *args, msg="too long")


def test_unknown_engine_is_refused_with_the_known_ones(toy, images, mvtec):  # noqa: F811
    for args in (("products", "add", "other", "--engine", "bogus"), ("fit", "toy", "--engine", "bogus"),
                 ("inspect", "toy", images / "test", "--engine", "bogus"),
                 ("eval", mvtec, "--engine", "bogus")):
        err = _refused(toy, *args, msg="unknown engine 'bogus'")
        assert "standalone" in err and "vlad" in err
    assert "other" not in toy("products", "list")[1]


def _free_display() -> int:
    for n in range(97, 200):
        if os.path.exists(f"/tmp/.X11-unix/X{n}"):
            continue
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", 6000 + n)) != 0:
                return n
    pytest.skip("no free X display number")


@pytest.mark.skipif(sys.platform != "linux", reason="X11 displays are a Linux matter")
def test_display_that_does_not_exist_is_a_message_not_an_abort(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=f":{_free_display()}", PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(tmp_path))
    # Before the check, Qt aborted here with exit 134 and a plugin message
    run = subprocess.run([sys.executable, "-m", "inspector", "-w", str(tmp_path / "ws")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert run.stderr.startswith(f"error: cannot open the display '{env['DISPLAY']}'"), run.stderr
    assert " — " in run.stderr and "qt.qpa" not in run.stderr
    env["DISPLAY"] = "not a display"
    run = subprocess.run([sys.executable, "-m", "inspector"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1 and "[host]:number" in run.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="X11 displays are a Linux matter")
def test_a_running_x_server_passes_the_display_check(monkeypatch):
    import shutil

    from inspector.launch import display_problem

    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed")
    n = _free_display()
    server = subprocess.Popen(["Xvfb", f":{n}", "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):  # up to 10 s for the socket to appear
            if os.path.exists(f"/tmp/.X11-unix/X{n}"):
                break
            server.wait(0.1) if server.poll() is not None else __import__("time").sleep(0.1)
        monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        monkeypatch.setenv("DISPLAY", f":{n}")
        assert display_problem() is None
    finally:
        server.terminate()
        server.wait(10)
    assert "cannot open the display" in display_problem()


def test_unexpected_error_is_one_line_and_a_log(cli, tmp_path, monkeypatch):
    import inspector.commands.workspace_products as wp

    def broken(args):  # noqa: ANN001, ANN202 - stands for any bug in a command
        raise ValueError("boom")

    monkeypatch.setattr(wp, "cmd_products_list", broken)
    cli("workspace", "init")
    code, out, err = cli("products", "list")
    log = tmp_path / "data-home" / "inspector" / "logs" / "errors.log"
    assert code == 1 and "Traceback" not in err
    assert err.startswith("error: unexpected ValueError: boom — this is a bug; details in ")
    assert str(log) in err
    text = log.read_text()
    assert "Traceback" in text and "ValueError: boom" in text and "products list" in text
    monkeypatch.setenv("INSPECTOR_DEBUG", "1")
    with pytest.raises(ValueError, match="boom"):
        cli("products", "list")


def test_closed_pipe_is_not_a_traceback(cli, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(tmp_path)}
    ws = cli.workspace
    cli("workspace", "init")
    cli("products", "add", "p0")
    proc = subprocess.Popen([sys.executable, "-m", "inspector", "-w", str(ws), "products", "list"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader (`| head -0`) is gone before anything is written
    err = proc.stderr.read().decode()
    proc.wait(60)
    assert err == "", err  # before: "error: broken pipe — check the path", or a BrokenPipeError


# --- item 5: names ------------------------------------------------------------------------------

def test_names_that_look_alike_are_one_product(cli):
    cli("workspace", "init")
    assert cli("products", "add", "Cookie")[0] == 0
    assert cli("products", "add", unicodedata.normalize("NFC", "café"))[0] == 0
    for name in ("cookie", "COOKIE", " Cookie ", "cookie\u200b", unicodedata.normalize("NFD", "Café")):
        err = _refused(cli, "products", "add", name, msg="already exists")
        assert "a product named '" in err
    # any spelling with the same key finds the product
    assert "name:          Cookie" in cli("products", "show", "COOKIE")[1]
    assert "name:          café" in cli("products", "show", unicodedata.normalize("NFD", "CAFÉ"))[1]
    # a rename onto another product's key is refused; a change of case of one's own name is not
    _refused(cli, "products", "rename", "café", "COOKIE", msg="already exists")
    assert cli("products", "rename", "cookie", "COOKIE")[0] == 0
    assert cli("products", "list")[1].count("COOKIE") == 1


def test_control_and_invisible_characters_and_length(cli):
    cli("workspace", "init")
    for name, what in (("red\x1b[31m", "U+001B"), ("a\tb", "U+0009"), ("ab\u202ec", "U+202E"),
                       ("zero\u200bwidth", "U+200B"), ("line\nbreak", "U+000A")):
        _refused(cli, "products", "add", name, msg=what)
    _refused(cli, "products", "add", "x" * 121, msg="at most 120")
    _refused(cli, "products", "add", "   ", msg="empty")
    assert cli("products", "add", "  washer M8  ")[0] == 0
    assert "name:          washer M8\n" in cli("products", "show", "washer M8")[1]


def test_names_from_older_workspaces_are_shown_escaped(cli):
    cli("workspace", "init")
    cli("products", "add", "plain")
    con = sqlite3.connect(cli.workspace / "inspector.db")  # as an older Inspector could have stored it
    con.execute("UPDATE products SET name = ? WHERE name = 'plain'", ("evil\x1b[2J\x1b[31m",))
    con.commit()
    con.close()
    out = cli("products", "list")[1]
    assert "\x1b" not in out and "evil\\x1b[2J\\x1b[31m" in out
    err = cli("products", "show", "ghost")[2]
    assert "\x1b" not in err and "evil\\x1b" in err


def test_safe_display_escapes_only_what_is_hidden():
    from inspector.core.names import name_key, safe_display

    assert safe_display("Äpfel café 日本") == "Äpfel café 日本"
    assert safe_display("a\x07b\u200bc\u202e") == "a\\x07b\\u200bc\\u202e"
    assert name_key("COOKIE\u200b ") == name_key(" cookie") == "cookie"
    assert name_key(unicodedata.normalize("NFD", "CAFÉ")) == name_key("café")


# --- item 6: inputs before state ----------------------------------------------------------------

def test_inspect_of_unreadable_files_does_not_refit(toy, images, tmp_path):
    # Before the fix, each of these fitted the product first: a new state/v1 and a threshold.
    _refused(toy, "inspect", "toy", images / "bad" / "a.png", msg="a.png", fix=False)
    _refused(toy, "inspect", "toy", images / "bad", msg="none of the 2 image(s) could be read")
    _refused(toy, "inspect", "toy", images / "test", images / "missing.png", msg="no such file", fix=False)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the overlay folder would go")
    _refused(toy, "inspect", "toy", images / "test", "--save-overlays", blocker / "ov", msg="is a file")
    assert "not fitted" in toy("products", "show", "toy")[1]
    # and a batch that can be inspected still fits once and inspects
    code, out, err = toy("inspect", "toy", images / "test", images / "bad")
    assert code == 0, err
    assert "3 image(s)" in out and "2 skipped" in out


def test_eval_and_history_refuse_bad_outputs_before_work(toy, images, mvtec, tmp_path):  # noqa: F811
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    code, out, err = toy("eval", mvtec, "--engine", "meandiff", "--json", blocker / "r.json")
    assert code == 1 and out == "" and "is a file" in err  # nothing evaluated, no table printed
    code, out, err = toy("eval", mvtec, "--engine", "meandiff", "--save-maps", blocker)
    assert code == 1 and out == "" and "is a file" in err
    _refused(toy, "history", "--csv", blocker / "h.csv", msg="is a file")
    _refused(toy, "history", "--csv", tmp_path, msg="is a folder")
    _refused(toy, "refs", "add", "toy", images / "good", images / "bad" / "a.png", msg="a.png", fix=False)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_output_folder_is_refused(toy, images, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        _refused(toy, "history", "--csv", ro / "h.csv", msg="no permission")
        _refused(toy, "inspect", "toy", images / "test", "--save-overlays", ro / "ov", msg="no permission")
    finally:
        ro.chmod(0o755)


# --- progress ------------------------------------------------------------------------------------

def test_progress_without_a_terminal_is_one_line_per_stage(toy, images):
    code, out, err = toy("inspect", "toy", images / "test")
    assert code == 0, err
    assert err.count("fit: calibrating") == 1 and "fit: fitting on all 6" in err
    assert err.count("inspect: inspecting") == 1  # not one line per image


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_a_bar_with_time_left(monkeypatch):
    from inspector.commands.common import progress_bar

    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setenv("COLUMNS", "120")
    with progress_bar("fit") as show:
        for i in range(5):
            show(i, 5, f"calibrating: fold {i + 1} of 4")
    text = term.getvalue()
    assert "fit" in text and "calibrating" in text and "/5" in text and "left" in text


def test_more_os_and_database_errors_become_messages():
    import errno

    from sqlalchemy.exc import IntegrityError

    from inspector.core.errors import user_message

    for code, words in ((errno.ENOTEMPTY, "not empty"), (errno.EMFILE, "too many files"),
                        (errno.EXDEV, "across drives"), (errno.ELOOP, "symbolic links")):
        text = user_message(OSError(code, os.strerror(code), "/x"))
        assert words in text and " — " in text, text
    dup = IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed: products.name"))
    assert "at the same moment" in user_message(dup)


def test_a_terminal_that_cannot_encode_a_name_gets_it_escaped(cli, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(tmp_path), "PYTHONIOENCODING": "ascii"}
    cli("workspace", "init")
    run = subprocess.run([sys.executable, "-m", "inspector", "-w", str(cli.workspace), "products", "add", "café"],
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0 and "caf\\xe9" in run.stdout, run.stderr



def test_engine_that_cannot_run_is_refused_before_any_work(toy, images, monkeypatch):
    spec = registry.EngineSpec("needsweights", "test", "needs weights", "test_calibration:MeanDiffModel",
                               registry.Requirements(),
                               lambda s: registry.Availability(False, "weights not found — import them"))
    monkeypatch.setitem(registry.ENGINES, "needsweights", spec)
    for args in (("fit", "toy", "--engine", "needsweights"),
                 ("inspect", "toy", images / "test", "--engine", "needsweights")):
        before = tree_snapshot(toy.workspace)
        code, out, err = toy(*args)
        assert code == 1 and "not available: weights not found" in err
        assert "calibrating" not in err  # refused before the fit started, not after its first step
        assert tree_snapshot(toy.workspace) == before
