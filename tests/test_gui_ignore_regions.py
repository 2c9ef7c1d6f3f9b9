"""Products tab: ignore regions drawn on a reference image, saved with the recipe (audited), and
shown as a pending draft until a fit of them is published."""

from __future__ import annotations

from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers


def _drag(qtbot, canvas, a, b) -> None:  # noqa: ANN001 - fractions of the drawn image
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    r = canvas.image_rect()
    pa = QPoint(round(r.left() + a[0] * r.width()), round(r.top() + a[1] * r.height()))
    pb = QPoint(round(r.left() + b[0] * r.width()), round(r.top() + b[1] * r.height()))
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pa)
    QTest.mouseMove(canvas, pb)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pb)


def test_draw_remove_and_save_ignore_regions(qtbot, make_window, fitted_ws, demo_data):
    from inspector.services import audit as audit_svc
    from inspector.services.engine_state import ignore_regions_of
    from inspector.services.products import get_product

    w = make_window(fitted_ws)
    tab = w.tab_widgets["products"]
    assert tab.form.regions.text() == "none"
    tab.form.regions_button.click()  # the reference is read in a worker, then the editor opens
    wait_until(qtbot, lambda: getattr(tab, "regions_dialog", None) is not None and tab.regions_dialog.isVisible(), 10)
    dialog = tab.regions_dialog
    canvas = dialog.canvas
    assert canvas.image is not None and canvas.image.width() == SIZE  # the first reference
    _drag(qtbot, canvas, (0.0, 0.0), (0.25, 1.0))
    _drag(qtbot, canvas, (0.6, 0.6), (0.8, 0.8))
    assert len(dialog.boxes()) == 2 and dialog.items.count() == 2
    x0, y0, x1, y1 = dialog.boxes()[0]
    assert x0 == 0 and y0 == 0 and abs(x1 - 0.25) < 0.02 and y1 == 1
    assert "2 regions" in dialog.summary.text()
    dialog.items.setCurrentRow(1)
    dialog.remove_button.click()
    assert len(dialog.boxes()) == 1
    # boxes that leave almost nothing inspected cannot be saved
    _drag(qtbot, canvas, (0.0, 0.0), (1.0, 0.99))
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    assert not ok.isEnabled() and "less than 5%" in dialog.summary.text()
    dialog.items.setCurrentRow(1)
    dialog.remove_button.click()
    assert ok.isEnabled()
    ok.click()
    wait_until(qtbot, lambda: len(ignore_regions_of(get_product(w.state.workspace, "washer"))) == 1, 10)
    wait_until(qtbot, lambda: "1 region, 25% of the image ignored" in tab.form.regions.text(), 10)
    assert "ignore regions changed" in w.product_state.text()
    assert "ignore regions changed" in tab.recipe.note.text()
    rows = audit_svc.list_audit(w.state.workspace, product="washer")
    assert any("ignore_regions" in str(r.new_value) for r in rows)

    # fitted and published, the Inspect tab greys the region over and says it was not inspected
    from inspector.services.engine_state import publish_draft

    tab.fit()
    wait_until(qtbot, lambda: not tab.fit_progress.busy(), 60)
    publish_draft(w.state.workspace, "washer")
    w.state.notify_updated()
    assert "ignore regions changed" not in w.product_state.text()
    inspect = w.tab_widgets["inspect"]
    w.show_tab("inspect")
    inspect.inspect([demo_data / "test" / "good"])
    wait_until(qtbot, lambda: not inspect.progress.busy(), 60)
    wait_until(qtbot, inspect.view.has_image, 10)
    assert len(inspect.view.layers["ignored"]) == 1
    assert inspect.view.layers["ignored"][0].rect().width() == SIZE // 4
    assert "1 ignore region(s) not inspected" in inspect.panel.details.text()
