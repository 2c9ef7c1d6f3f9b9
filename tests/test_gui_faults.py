"""What the window got wrong (issue 9, item 9): one test per fault, each failing on the old code."""

from __future__ import annotations

import threading

import pytest

from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers


# --- j. stopping Live never emits on a deleted object; closing joins the threads ----------------------
@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_live_start_stop_and_close_log_no_lifetime_errors(qtbot, make_window, fitted_ws, demo_data, capfd,
                                                         monkeypatch):
    import time

    errors: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda a: errors.append(f"{a.thread.name}: {a.exc_value!r}"))
    w = make_window(fitted_ws)
    tab = w.tab_widgets["live"]
    w.show_tab("live")
    tab.set_source("folder", str(demo_data / "test" / "good"), fps=60)
    tab.start()
    wait_until(qtbot, lambda: tab.counts["inspected"] > 0, 60)  # scoring: the threads emit all the time
    for i in range(6):  # stop while frames and verdicts are in flight, start again at once
        tab.stop()
        tab.start()
        qtbot.wait(40 + 40 * i)
    sessions = [tab.session, *tab._stopped]
    w.close()  # closing while running: the threads are stopped and joined before widgets go
    assert all(not s.running for s in sessions)
    qtbot.wait(300)
    time.sleep(0.3)
    out, err = capfd.readouterr()
    assert not errors, errors
    for bad in ("Signal source has been deleted", "Fatal Python error", "Traceback"):
        assert bad not in out + err, err
