"""Products tab: create, references (grid, thumbnails, remove), fit, threshold, rename, delete."""

from __future__ import annotations

from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers


def test_create_add_references_fit_and_move_threshold(qtbot, make_window, demo_data, tmp_path):
    from inspector.services.products import get_product, update_product

    w = make_window(tmp_path / "ws")  # a new, empty workspace
    tab = w.tab_widgets["products"]
    assert tab.stack.currentWidget() is tab.empty
    assert tab.create_product("bracket", "steel bracket", {"material": "steel"}, ["scratch"])
    update_product(w.state.workspace, "bracket", engine_settings=FAST)
    assert w.picker.currentText() == "bracket"
    assert tab.grid.stack.currentWidget() is tab.grid.empty
    assert "Add 5-20 good images" in tab.grid.empty.label.text()
    assert not tab.fit_button.isEnabled()

    tab.add_paths([demo_data / "train" / "good"])
    wait_until(qtbot, lambda: tab.grid.model.rowCount() == 10, 30)
    assert tab.grid.stack.currentWidget() is tab.grid.view
    wait_until(qtbot, lambda: len(tab.grid.model.thumbs) == 10, 30)  # thumbnails from the worker
    assert "not fitted" in w.product_state.text()

    tab.fit()
    assert tab.fit_progress.busy()
    wait_until(qtbot, lambda: not tab.fit_progress.busy(), 60)
    info = get_product(w.state.workspace, "bracket")
    assert info.state_version == 1 and info.threshold is not None
    assert "fitted v1" in w.product_state.text()
    assert len(tab.threshold.hist.scores) == 10
    assert "Threshold" in tab.threshold.expected.text()

    # a more lenient target moves the threshold down; saved after the slider settles
    before = info.threshold
    tab.threshold.slider.setValue(tab.threshold.slider.maximum())
    tab.threshold._commit()  # Apply confirmed (the dialog itself: tests/test_gui_publish.py)
    wait_until(qtbot, lambda: get_product(w.state.workspace, "bracket").target_frr == 0.2, 10)
    after = get_product(w.state.workspace, "bracket").threshold
    assert after < before
    wait_until(qtbot, lambda: f"{after:.2f}" in tab.threshold.expected.text(), 10)

    # removing a reference makes the fitted state out of date
    tab.grid.view.selectionModel().select(tab.grid.model.index(0),
                                          tab.grid.view.selectionModel().SelectionFlag.Select)
    tab.remove_selected()
    assert tab.grid.model.rowCount() == 9
    assert "draft pending" in w.product_state.text()  # published v1 stays in use (no silent refit)


def test_rename_and_delete_needs_the_typed_name(qtbot, make_window, product_ws):
    from inspector.gui.dialogs import DeleteProductDialog

    w = make_window(product_ws)
    tab = w.tab_widgets["products"]
    assert tab.do_rename("washer", "washer M8")
    assert w.picker.currentText() == "washer M8"
    dlg = DeleteProductDialog("washer M8", 10, w)
    qtbot.addWidget(dlg)
    dlg.confirm.setText("washer")
    assert not dlg.ok.isEnabled()
    dlg.confirm.setText("washer M8")
    assert dlg.ok.isEnabled()
    assert not tab.do_delete("washer M8", "washer")  # wrong confirmation: refused, message shown
    assert w.state.product_names() == ["washer M8"]
    assert tab.do_delete("washer M8", "washer M8")
    assert w.state.product_names() == []
    assert tab.stack.currentWidget() is tab.empty
    assert not w.picker.isEnabled()


def test_recipe_edits_are_saved(qtbot, make_window, product_ws):
    from inspector.services.products import get_product

    w = make_window(product_ws)
    form = w.tab_widgets["products"].form
    form.tags.setText("material=brass, object=washer")
    form.tags.textEdited.emit(form.tags.text())
    form.words.setText("scratch, dent, burr")
    form.words.textEdited.emit(form.words.text())
    assert form.save_button.isEnabled()
    form.save_button.click()
    info = get_product(w.state.workspace, "washer")
    assert info.tags == {"material": "brass", "object": "washer"}
    assert info.defect_words == ["scratch", "dent", "burr"]
    wait_until(qtbot, lambda: "Available" in form.availability.text(), 30)


def test_dropping_a_folder_on_the_grid_adds_its_images(qtbot, make_window, demo_data, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    w = make_window(tmp_path / "ws")
    tab = w.tab_widgets["products"]
    tab.create_product("gasket")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(demo_data / "train" / "good"))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    tab.grid.dropEvent(event)
    wait_until(qtbot, lambda: tab.grid.model.rowCount() == 10, 30)
