"""Products tab, published recipes (issue 10 items 7 and 11): after a reference changes the
tab says "draft pending"; a fit makes a draft shown beside the published one; Publish asks
first, then switches what inspections use and writes an audit row."""

from __future__ import annotations

import pytest
from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers


def test_draft_panel_beside_published_and_publish_button(qtbot, make_window, fitted_ws):
    from PySide6.QtWidgets import QApplication, QMessageBox

    from inspector.services.audit import list_audit
    from inspector.services.inspect import detector_for
    from inspector.services.products import get_product

    w = make_window(fitted_ws)
    tab = w.tab_widgets["products"]
    ws = w.state.workspace
    assert tab.recipe.isVisible() and not tab.recipe.publish_button.isVisible()
    assert "Published" in tab.recipe.table.text() and "Draft" not in tab.recipe.table.text()
    published = get_product(ws, "washer")

    # removing a reference: no refit anywhere, the panel and the header say draft pending
    tab.grid.view.selectionModel().select(tab.grid.model.index(0),
                                          tab.grid.view.selectionModel().SelectionFlag.Select)
    tab.remove_selected()
    assert "Draft pending" in tab.recipe.note.text() and "draft pending" in w.product_state.text()
    det, note = detector_for(ws, "washer")
    assert note.startswith("draft pending: references changed since v1 was published")
    assert det.calibration.threshold == published.threshold
    assert get_product(ws, "washer").state_version == 1

    tab.fit()
    wait_until(qtbot, lambda: not tab.fit_progress.busy(), 120)
    assert get_product(ws, "washer").state_version == 1  # a draft, not published
    wait_until(qtbot, lambda: "Draft" in tab.recipe.table.text(), 10)
    assert tab.recipe.draft["version"] == 2 and tab.recipe.published["version"] == 1
    assert "v1" in tab.recipe.table.text() and "v2" in tab.recipe.table.text()
    assert "Held-out good scores" in tab.recipe.table.text() and "Synthetic recall" in tab.recipe.table.text()
    assert tab.recipe.publish_button.isVisible() and tab.recipe.publish_button.isEnabled()

    # Publish asks first (Cancel changes nothing), then OK publishes
    tab.recipe.publish_button.click()
    box = next(b for b in QApplication.topLevelWidgets() if isinstance(b, QMessageBox) and b.isVisible())
    assert "false-reject target" in box.text() and "v2" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert get_product(ws, "washer").state_version == 1
    tab.recipe.publish_button.click()
    box = next(b for b in QApplication.topLevelWidgets() if isinstance(b, QMessageBox) and b.isVisible())
    box.button(QMessageBox.StandardButton.Ok).click()
    wait_until(qtbot, lambda: get_product(ws, "washer").state_version == 2, 10)
    assert not tab.recipe.publish_button.isVisible() and "draft pending" not in w.product_state.text()
    assert any(a.what == "recipe published" and a.new_value == "2" for a in list_audit(ws, "washer"))
    det, note = detector_for(ws, "washer")
    assert note == "" and det.calibration.threshold == get_product(ws, "washer").threshold


def test_threshold_waits_for_apply_with_confirmation_typed_value_and_focus(qtbot, make_window, fitted_ws):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication, QMessageBox

    from inspector.services.products import get_product

    w = make_window(fitted_ws)
    tab = w.tab_widgets["products"]
    ws = w.state.workspace
    panel = tab.threshold
    before = get_product(ws, "washer")
    labels = [lab.text() for lab in panel.findChildren(type(panel.expected))]
    assert "fewer false\nrejects" in labels and "fewer missed\ndefects" in labels
    assert panel.slider.focusPolicy() == Qt.FocusPolicy.ClickFocus
    assert not panel.frr_input.keyboardTracking()

    # keys without focus do nothing (the End key was one press from moving the production threshold)
    value = panel.slider.value()
    tab.fit_button.setFocus()
    for _ in range(80):  # Tab through the whole window: the slider never takes the keys
        assert QApplication.focusWidget() is not panel.slider
        w.focusNextChild()
        qtbot.keyClick(QApplication.focusWidget() or w, Qt.Key.Key_End) \
            if QApplication.focusWidget() is panel.slider else None
    assert panel.slider.value() == value

    # a typed value previews but changes nothing until Apply is confirmed
    panel.frr_input.setValue(5.0)
    assert abs(panel.pending - 0.05) < 1e-9 and panel.apply_button.isEnabled()
    assert panel.slider.value() == 6  # nearest step, 5 %
    qtbot.wait(600)  # the old slider saved itself after 400 ms
    assert get_product(ws, "washer").target_frr == before.target_frr
    panel.apply_button.click()
    box = next(b for b in QApplication.topLevelWidgets() if isinstance(b, QMessageBox) and b.isVisible())
    assert "Expected false-reject rate: about 5.0%" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert get_product(ws, "washer").target_frr == before.target_frr
    panel.apply_button.click()
    box = next(b for b in QApplication.topLevelWidgets() if isinstance(b, QMessageBox) and b.isVisible())
    box.button(QMessageBox.StandardButton.Ok).click()
    wait_until(qtbot, lambda: abs(get_product(ws, "washer").target_frr - 0.05) < 1e-9, 10)
    assert get_product(ws, "washer").threshold < before.threshold


def test_a_typed_fixed_score_waits_for_apply_and_a_target_ends_it(qtbot, make_window, fitted_ws):
    from PySide6.QtWidgets import QApplication, QMessageBox

    from inspector.gui.tabs.threshold_panel import format_rate
    from inspector.services.engine_state import get_calibration
    from inspector.services.products import get_product

    w = make_window(fitted_ws)
    ws = w.state.workspace
    panel = w.tab_widgets["products"].threshold
    before = get_product(ws, "washer")
    assert abs(panel.score_input.value() - before.threshold) < 1e-4 and not panel.score_button.isEnabled()
    score = round(max(panel.scores) * 0.99, 4)  # rejects exactly the highest held-out good image
    panel.score_input.setValue(score)
    assert panel.hist.threshold == score and panel.score_button.isEnabled()
    assert "a fixed score" in panel.expected.text()
    assert f"it rejects 1 ({format_rate(1 / len(panel.scores))})" in panel.expected.text()
    assert get_product(ws, "washer").threshold == before.threshold  # nothing until Apply
    panel.score_button.click()
    box = next(b for b in QApplication.topLevelWidgets() if isinstance(b, QMessageBox) and b.isVisible())
    assert f"fixed threshold score of {score:.4f}" in box.text() and "fitted again" in box.text()
    box.button(QMessageBox.StandardButton.Ok).click()
    wait_until(qtbot, lambda: get_product(ws, "washer").threshold == score, 10)
    assert get_calibration(ws, "washer").fixed_score
    wait_until(qtbot, lambda: "Kept when the product is fitted again" in panel.expected.text(), 10)
    assert panel.target_label.text() == "<b>fixed</b>" and panel.apply_button.isEnabled()

    # Apply on the stored target (unchanged) sets the threshold from the good images again
    panel.apply_button.click()
    box = next(b for b in QApplication.topLevelWidgets() if isinstance(b, QMessageBox) and b.isVisible())
    assert f"was a fixed score of {score:.4f}" in box.text()
    box.button(QMessageBox.StandardButton.Ok).click()
    wait_until(qtbot, lambda: not get_calibration(ws, "washer").fixed_score, 10)
    assert abs(get_product(ws, "washer").threshold - before.threshold) < 1e-9


def test_recheck_band_gives_an_amber_recheck_verdict(qtbot, make_window, fitted_ws, demo_data, capsys):
    import pytest

    from inspector.cli import main
    from inspector.core.image_io import load_image
    from inspector.gui.widgets.verdict_banner import STYLES, VerdictBanner
    from inspector.services import engine_state
    from inspector.services.inspect import detector_for
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(fitted_ws)
    det, _ = detector_for(ws, "washer")
    thr = det.calibration.threshold
    assert det.verdict(thr * 1.01) == "NG" and det.verdict(thr * 0.99) == "OK"  # default: off
    engine_state.set_recheck_band(ws, "washer", 0.05)
    det, note = detector_for(ws, "washer")
    assert note == ""  # a verdict setting: no draft, no refit
    assert det.verdict(thr * 1.01) == "RECHECK" and det.verdict(thr * 0.99) == "RECHECK"
    assert det.verdict(thr * 1.06) == "NG" and det.verdict(thr * 0.94) == "OK"
    assert "recheck_band" not in engine_state.engine_settings(engine_state.product_svc.get_product(ws, "washer"))
    # a band wide enough that every test image is borderline: counted as its own category, not NG
    engine_state.set_recheck_band(ws, "washer", 0.5)
    det, _ = detector_for(ws, "washer")
    scores = [det.predict(load_image(p)).score
              for p in sorted((demo_data / "test" / "good").iterdir())]
    in_band = sum(abs(s - thr) < 0.5 * abs(thr) for s in scores)
    assert in_band > 0, (scores, thr)  # the band must catch something for the counts to mean anything
    ws.close()
    code = main(["-w", str(fitted_ws), "inspect", "washer", str(demo_data / "test" / "good"), "--fail-on-ng",
                 "--no-record"])
    out = capsys.readouterr().out
    assert f", {in_band} RECHECK" in out if in_band else "RECHECK" not in out
    assert out.count("RECHECK  ") == in_band
    ng = sum(s >= thr * 1.5 for s in scores)
    assert code == (2 if ng else 0)  # RECHECK alone never fails --fail-on-ng
    with pytest.raises(Exception, match="between 0 and 0.5"):
        engine_state.set_recheck_band(open_workspace(fitted_ws), "washer", 0.9)

    banner = VerdictBanner()
    qtbot.addWidget(banner)
    banner.show_verdict("RECHECK", thr, thr)
    assert banner.state == "RECHECK" and banner.text().startswith("? RECHECK")
    assert STYLES["RECHECK"][0] not in (STYLES["OK"][0], STYLES["NG"][0])


def test_recheck_band_is_set_in_the_threshold_panel(qtbot, make_window, fitted_ws):
    """The band previews on the histogram with what it would catch, changes nothing until its Apply
    is confirmed, then applies from the next part on (no refit). (Operators get the whole panel
    disabled: test_gui_roles.)"""
    from PySide6.QtWidgets import QApplication, QMessageBox

    from inspector.services import engine_state
    from inspector.services.products import get_product

    w = make_window(fitted_ws)
    tab = w.tab_widgets["products"]
    ws = w.state.workspace
    panel = tab.threshold
    assert panel.band_input.text() == "off" and not panel.band_button.isEnabled()
    thr = panel.hist.threshold
    panel.band_input.setValue(10.0)
    lo, hi = panel.hist.band_edges()
    assert (lo, hi) == (pytest.approx(thr * 0.9), pytest.approx(thr * 1.1))
    inside = sum(lo < s < hi for s in panel.scores)
    assert f"Scores from {lo:.2f} to {hi:.2f} get RECHECK" in panel.band_note.text()
    assert f"{inside} would" in panel.band_note.text()
    assert engine_state.recheck_band(get_product(ws, "washer")) == 0.0  # a preview only
    panel.band_button.click()
    box = next(b for b in QApplication.topLevelWidgets() if isinstance(b, QMessageBox) and b.isVisible())
    assert "± 10.0% of the threshold" in box.text()
    box.button(QMessageBox.StandardButton.Ok).click()
    wait_until(qtbot, lambda: abs(engine_state.recheck_band(get_product(ws, "washer")) - 0.1) < 1e-9, 10)
    wait_until(qtbot, lambda: not panel.band_button.isEnabled(), 5)
    assert get_product(ws, "washer").threshold == pytest.approx(thr)  # the threshold stays
    assert panel.band_input.value() == pytest.approx(10.0)  # shown again after the refresh
