"""Roles in the GUI: an operator cannot move the threshold or edit a recipe; the engineer can
after the password; a wrong password is refused; the History › Audit view shows the changes."""

from __future__ import annotations

import csv

from test_gui_fixtures import *  # noqa: F401,F403 - shared GUI fixtures and helpers

PASSWORD = "line3-eng"


def _roles_on(root) -> None:
    from inspector.services import roles
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(root)
    roles.set_password(ws, PASSWORD)
    roles.set_roles_enabled(ws, True)
    ws.close()


def _ok(dlg):
    from PySide6.QtWidgets import QDialogButtonBox

    return dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)


def test_operator_locked_engineer_unlocks_after_the_password(qtbot, make_window, fitted_ws, tmp_path):
    from inspector.services.audit import list_audit
    from inspector.services.products import get_product

    _roles_on(fitted_ws)
    w = make_window(fitted_ws)
    w.state.settings.setValue("operator", "Dana")
    tab = w.tab_widgets["products"]
    ws = w.state.workspace
    before = get_product(ws, "washer")
    n_audit = len(list_audit(ws))

    # operator mode: the station opens locked
    assert w.state.role == "operator" and "Operator mode" in w.role_label.text()
    assert w.engineer_action.isVisible() and not w.lock_action.isVisible()
    assert not tab.threshold.slider.isEnabled() and not tab.form.isEnabled()
    assert not tab.form.save_button.isEnabled() and not tab.fit_button.isEnabled()
    assert not tab.rename_btn.isEnabled() and not tab.delete_btn.isEnabled()
    assert not w.tab_widgets["settings"].isEnabled() and not w.tab_widgets["models"].isEnabled()
    assert w.tab_widgets["inspect"].isEnabled() and w.tab_widgets["history"].isEnabled()
    # even when called, the edits change nothing
    tab.commit_target(0.2)
    tab.save_fields({"description": "changed by an operator", "defect_words": ["x"]})
    assert not tab.do_rename("washer", "other") and not tab.do_delete("washer", "washer")
    assert not tab.create_product("new one")
    qtbot.wait(300)
    after = get_product(ws, "washer")
    assert (after.threshold, after.target_frr, after.description, after.name) == \
           (before.threshold, before.target_frr, before.description, before.name)
    assert len(list_audit(ws)) == n_audit

    # a wrong password is refused: the dialog stays, operator mode stays
    dlg = w.engineer_dialog()
    qtbot.keyClicks(dlg.password, "not-the-password")
    _ok(dlg).click()
    assert dlg.isVisible() and dlg.error.isVisible() and "Wrong engineer password" in dlg.error.text()
    assert w.state.role == "operator" and not tab.threshold.slider.isEnabled()
    # the right one unlocks editing
    qtbot.keyClicks(dlg.password, PASSWORD)
    _ok(dlg).click()
    assert not dlg.isVisible() and w.state.role == "engineer"
    assert "Engineer mode" in w.role_label.text() and w.lock_action.isVisible()
    assert tab.threshold.slider.isEnabled() and tab.form.isEnabled() and tab.fit_button.isEnabled()
    assert w.tab_widgets["settings"].isEnabled()

    tab.threshold.slider.setValue(tab.threshold.slider.maximum())
    tab.threshold._commit()  # Apply confirmed (the dialog itself: tests/test_gui_publish.py)
    wait_until(qtbot, lambda: get_product(ws, "washer").target_frr == 0.2, 10)
    assert get_product(ws, "washer").threshold < before.threshold
    tab.save_fields({"description": "washer M8, zinc plated"})
    assert get_product(ws, "washer").description == "washer M8, zinc plated"
    rows = list_audit(ws, "washer")
    by = {r.what: r for r in rows}
    assert {"target FRR", "threshold", "description"} <= set(by)
    assert by["target FRR"].role == "engineer" and by["target FRR"].user == "Dana"
    assert by["description"].new_value == '"washer M8, zinc plated"'

    # Lock: back to operator mode
    w.lock_action.trigger()
    assert w.state.role == "operator" and not tab.threshold.slider.isEnabled() and not tab.form.isEnabled()

    # History › Audit shows the rows, newest first, and exports them
    w.show_tab("history")
    hist = w.tab_widgets["history"]
    hist.views.setCurrentWidget(hist.audit)
    wait_until(qtbot, lambda: hist.audit.model.rowCount() == len(list_audit(ws)), 10)
    texts = [hist.audit.model.index(r, 5).data() for r in range(hist.audit.model.rowCount())]
    assert "target FRR" in texts and "description" in texts and "roles" in texts
    assert hist.audit.model.index(0, 1).data() == "engineer"
    out = tmp_path / "audit.csv"
    hist.audit.export_csv(out)
    wait_until(qtbot, lambda: out.exists(), 10)
    with out.open(newline="") as f:
        assert len(list(csv.DictReader(f))) == hist.audit.model.rowCount()


def test_roles_off_by_default_and_turned_on_from_the_menu(qtbot, make_window, product_ws):
    from inspector.gui.role_dialogs import SetPasswordDialog
    from inspector.services import roles

    w = make_window(product_ws)
    tab = w.tab_widgets["products"]
    assert w.state.role == "" and tab.form.isEnabled() and not w.engineer_action.isVisible()
    w.roles_action.trigger()  # no password yet: asked to set one first
    dlg = next(d for d in w.findChildren(SetPasswordDialog) if d.isVisible())
    qtbot.keyClicks(dlg.first, "abcd1")
    qtbot.keyClicks(dlg.again, "abcd2")
    _ok(dlg).click()
    assert dlg.isVisible() and "differ" in dlg.error.text()
    assert not roles.roles_enabled(w.state.workspace)
    dlg.again.clear()
    qtbot.keyClicks(dlg.again, "abcd1")
    _ok(dlg).click()
    assert roles.roles_enabled(w.state.workspace) and roles.check_password(w.state.workspace, "abcd1")
    assert w.state.role == "operator" and not tab.form.isEnabled()
    assert not w.roles_action.isEnabled()  # an operator cannot switch roles off


def test_roles_on_without_a_password_asks_for_one(qtbot, make_window, product_ws):
    from inspector.gui.role_dialogs import SetPasswordDialog
    from inspector.storage.models import WorkspaceSetting
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(product_ws)
    with ws.session() as s:  # e.g. the password row was lost: the first run asks for it
        s.add(WorkspaceSetting(key="roles_enabled", value="on"))
    ws.close()
    w = make_window(product_ws)
    assert w.state.role == "operator"
    assert any(d.isVisible() for d in w.findChildren(SetPasswordDialog))


def test_pdf_report_lists_the_changes_of_its_period(qtbot, product_ws, tmp_path):
    from inspector.gui.pdf_report import write_report
    from inspector.services.audit import count_audit, list_audit
    from inspector.storage.workspace import open_workspace

    ws = open_workspace(product_ws)
    rows, n = list_audit(ws, limit=3), count_audit(ws)
    assert n > 3  # created, engine settings, 10 references
    plain, audited = [], []
    write_report(product_ws, [], tmp_path / "a.pdf", "Report", "all time", layout=plain)
    write_report(product_ws, [], tmp_path / "b.pdf", "Report", "all time", layout=audited, audit=(n, rows))
    cells = lambda layout: [e for e in layout if e[0] == "cell"]  # noqa: E731
    assert len(cells(audited)) - len(cells(plain)) == 5 * (1 + len(rows))  # header + the last 3 changes
    assert all(e[2].contains(e[3]) or e[3].isEmpty() for e in cells(audited))  # nothing cut
    ws.close()
