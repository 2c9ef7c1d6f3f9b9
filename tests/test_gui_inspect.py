"""Inspect tab: a folder in a worker, results as they come, review keys, flags, cancel."""

from __future__ import annotations

from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers


def test_inspect_folder_shows_ng_and_reviews_with_keys(qtbot, make_window, fitted_ws, demo_data):
    from PySide6.QtCore import Qt

    from inspector.services.inspections import query_history

    w = make_window(fitted_ws)
    tab = w.tab_widgets["inspect"]
    w.show_tab("inspect")
    tab.inspect([demo_data / "test"])  # good/ and defect sub-folders
    wait_until(qtbot, lambda: not tab.progress.busy(), 60)
    assert len(tab.entries) == 10 and tab.results.count() == 10
    ng = [i for i, e in enumerate(tab.entries) if e.verdict == "NG"]
    assert ng, "the demo defects should give at least one NG"
    assert sum(e.verdict == "NG" and e.name.startswith("good/") for e in tab.entries) <= 1
    assert tab.results.item(ng[0]).text().startswith("NG")
    assert "NG" in tab.counts.text()
    assert len(query_history(w.state.workspace, "washer")) == 10  # every result was recorded

    tab.results.setCurrentRow(ng[0])
    assert tab.panel.banner.state == "NG" and "threshold" in tab.panel.banner.text()
    # a region's peak is on the map's scale, not the image score's: it says so
    assert "× the pixel threshold" in tab.panel.details.text()
    wait_until(qtbot, tab.view.has_image, 10)
    assert tab.view.layers["heat"] and tab.view.layers["boxes"]
    tab.controls.toggles["heat"].setChecked(False)
    assert not tab.view.layers["heat"][0].isVisible()

    tab.setFocus()
    start = tab.current
    qtbot.keyClick(tab, Qt.Key.Key_N)
    assert tab.current == min(start + 1, 9)
    qtbot.keyClick(tab, Qt.Key.Key_P)
    assert tab.current == start

    tab.results.setCurrentRow(ng[0])
    qtbot.keyClick(tab, Qt.Key.Key_F)  # flag false reject
    rec_id = tab.entries[ng[0]].record_id
    flags = {r.id: r.flag for r in query_history(w.state.workspace, "washer")}
    assert flags[rec_id] == "false_reject"
    assert tab.panel.flag_fr.isChecked()


def test_inspect_fits_on_first_use_and_cancel_keeps_results_so_far(qtbot, make_window, product_ws, demo_data,
                                                                   tmp_path):
    import shutil

    from inspector.services.products import get_product

    many = tmp_path / "many"
    many.mkdir()
    for i in range(60):  # a long run: the same test images over and over
        src = sorted((demo_data / "test" / "good").iterdir())[i % 4]
        shutil.copy(src, many / f"{i:03d}.png")
    w = make_window(product_ws)
    tab = w.tab_widgets["inspect"]
    tab.record.setChecked(False)
    tab.inspect([many])
    wait_until(qtbot, lambda: len(tab.entries) >= 2, 60)  # fitted first (not fitted before)
    tab.progress.cancel()
    wait_until(qtbot, lambda: not tab.progress.busy(), 30)
    assert 2 <= len(tab.entries) < 60
    assert "Cancelled" in tab.note.text()
    assert get_product(w.state.workspace, "washer").state_version == 1


def test_inspect_counts_recheck_apart(qtbot, make_window, fitted_ws, demo_data):
    """With a band wide enough that borderline images exist, the summary counts them on their own."""
    from inspector.services import engine_state
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(fitted_ws)
    try:
        engine_state.set_recheck_band(ws, "washer", 0.5)
    finally:
        ws.close()
    w = make_window(fitted_ws)
    tab = w.tab_widgets["inspect"]
    w.show_tab("inspect")
    tab.inspect([demo_data / "test"])
    wait_until(qtbot, lambda: not tab.progress.busy(), 60)
    recheck = sum(e.verdict == "RECHECK" for e in tab.entries)
    ng = sum(e.verdict == "NG" for e in tab.entries)
    assert recheck > 0, [e.verdict for e in tab.entries]
    assert f"{len(tab.entries)} inspected · {ng} NG" in tab.counts.text()
    assert f" · {recheck} RECHECK" in tab.counts.text()
