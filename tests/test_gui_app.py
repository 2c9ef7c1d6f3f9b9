"""Main window, first run, settings, workers and the Models/Settings tabs."""

from __future__ import annotations

import time

from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers


def test_first_run_shows_welcome_and_says_when_last_workspace_is_gone(make_window, settings_file, tmp_path):
    from PySide6.QtCore import QSettings

    w = make_window()
    assert w.stack.currentWidget() is w.welcome
    assert not w.toolbar.isVisible()
    w.close()
    s = QSettings(str(settings_file), QSettings.Format.IniFormat)
    s.setValue("workspace", str(tmp_path / "gone"))
    s.sync()
    w2 = make_window()
    assert w2.stack.currentWidget() is w2.welcome
    assert "no longer there" in w2.welcome.message.text()


def test_open_demo_builds_and_fits_both_products(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setattr("inspector.gui.welcome.DEMO_ENGINE_SETTINGS", FAST)
    w = make_window(tmp_path / "demo", open_demo=True)
    assert w.welcome.progress.busy()
    wait_until(qtbot, lambda: w.state.workspace is not None or not w.welcome.message.isHidden(), 120)
    assert w.state.workspace is not None, w.welcome.message.text()
    assert w.stack.currentWidget() is w.tabs
    assert w.state.product_names() == ["fabric", "washer"]
    for name in ("fabric", "washer"):
        w.state.select_product(name)
        assert "fitted v1" in w.product_state.text()
        assert w.picker.currentText() == name


def test_restores_product_tab_and_splitters(qtbot, make_window, product_ws):
    from inspector.services.products import create_product
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(product_ws)
    create_product(ws, "another")
    ws.close()
    w = make_window(product_ws)
    w.state.select_product("washer")
    w.show_tab("history")
    sp = w.tab_widgets["products"].splitter
    sp.setSizes([250, 600, 350])
    sizes = sp.sizes()
    w.close()
    w2 = make_window()  # no argument: reopens the last workspace
    assert w2.state.workspace is not None and w2.state.workspace.root == product_ws.resolve()
    assert w2.state.product == "washer" and w2.picker.currentText() == "washer"
    assert w2.tabs.currentWidget() is w2.tab_widgets["history"]
    w2.show_tab("products")
    qtbot.wait(50)
    restored = w2.tab_widgets["products"].splitter.sizes()
    assert all(abs(a - b) <= 4 for a, b in zip(restored, sizes)), (restored, sizes)


def test_worker_error_is_a_message_with_details_not_a_crash(qtbot, make_window, product_ws):
    from PySide6.QtWidgets import QMessageBox

    from inspector.gui.workers import run_task

    w = make_window(product_ws)

    def boom(progress=None, cancel=None):
        raise ZeroDivisionError("bad luck")

    run_task(w, boom)
    wait_until(qtbot, lambda: w.findChild(QMessageBox, "errorBox") is not None, 10)
    box = w.findChild(QMessageBox, "errorBox")
    assert "Unexpected error: bad luck" in box.text()
    assert "ZeroDivisionError" in box.detailedText()
    box.close()


def test_worker_streams_results_and_cancels_between_items(qtbot, make_window, product_ws):
    from inspector.gui.workers import run_task

    w = make_window(product_ws)
    got, outcome = [], []

    def slow(progress=None, cancel=None):
        for i in range(1000):
            time.sleep(0.01)
            yield i

    task = run_task(w, slow, on_yield=got.append, on_cancelled=lambda: outcome.append("cancelled"),
                    on_result=lambda _r: outcome.append("done"))
    wait_until(qtbot, lambda: len(got) >= 3, 10)
    task.cancel()
    wait_until(qtbot, lambda: not task.running, 10)
    assert outcome == ["cancelled"] and 3 <= len(got) < 1000


def test_settings_tab_saves_to_the_redirected_ini(qtbot, make_window, product_ws, settings_file):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    w = make_window(product_ws)
    tab = w.tab_widgets["settings"]
    w.show_tab("settings")
    tab.station.setText("Line 3")
    tab.station.editingFinished.emit()
    tab.operator.setText("ana")
    tab.operator.editingFinished.emit()
    tab.theme.setCurrentIndex(tab.theme.findData("dark"))
    tab.device.setCurrentIndex(tab.device.findData("cpu"))
    wait_until(qtbot, lambda: w.device_label.text() == "Device: CPU", 30)
    w.state.settings.sync()
    s = QSettings(str(settings_file), QSettings.Format.IniFormat)
    assert (s.value("station"), s.value("operator"), s.value("theme"), s.value("device")) == \
        ("Line 3", "ana", "dark", "cpu")
    assert QApplication.instance().palette().window().color().lightness() < 80
    assert w.state.station() == "Line 3"
    tab.theme.setCurrentIndex(tab.theme.findData("light"))


def test_models_tab_lists_manifest_models_with_status(qtbot, make_window, product_ws, tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_MODELS_DIR", str(tmp_path / "models"))
    w = make_window(product_ws)
    w.show_tab("models")
    tab = w.tab_widgets["models"]
    wait_until(qtbot, lambda: tab.table.rowCount() > 0, 30)
    statuses = {tab.table.item(r, 1).text() for r in range(tab.table.rowCount())}
    assert statuses == {"missing"}
    tab.table.selectRow(0)
    assert "Get it from" in tab.details.text() and tab.download_btn.isEnabled()
    # importing something that is not weights reports it and copies nothing
    junk = tmp_path / "notes.bin"
    junk.write_bytes(b"not a model")
    tab.import_path(junk)
    wait_until(qtbot, lambda: not tab.progress.busy(), 30)
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_no_workspace_tabs_do_not_crash(make_window):
    w = make_window()
    for key in ("products", "inspect", "live", "history", "models", "settings"):
        w.show_tab(key)
    w.tab_widgets["inspect"].inspect([])
    w.tab_widgets["live"].start()
    assert w.tab_widgets["live"].session is None
