"""Main window: product picker always in view, the tabs, and a status bar with the context."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QByteArray, QRect, QSize, Qt
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (QComboBox, QFileDialog, QLabel, QMainWindow, QSizePolicy, QSplitter,
                               QStackedWidget, QTabWidget, QToolBar, QWidget)

from ..core.errors import InspectorError
from ..storage.workspace import describe_cleanup, init_workspace, open_workspace
from .dialogs import NewWorkspaceDialog
from .role_dialogs import EngineerPasswordDialog, SetPasswordDialog
from .settings import get_str
from .state import AppState
from .tabs import TABS
from .welcome import WelcomePage, build_demo_workspace
from .widgets.elided_label import ElidedLabel
from .widgets.error_dialog import show_error
from .workers import cancel_all, run_task


TITLE_BAR_PX = 40  # room kept for the window manager's title bar before the frame is known
ENGINEER_TABS = ("models", "settings", "generator", "training")  # whole tabs an operator sees but may not change
LOCKED_TIP = "Operator mode: click “Engineer mode” and give the engineer password to change this"


def probe_device(setting: str) -> tuple[str, str]:
    """Worker: resolve the device setting; (device id, words for the status bar)."""
    from ..engines.registry import resolve_device

    try:
        device = resolve_device(setting)
    except InspectorError:
        return "cpu", "Device: CPU (no CUDA GPU found)"
    if device == "cuda":
        import torch
        return "cuda", f"Device: GPU {torch.cuda.get_device_name(0)}"
    return "cpu", "Device: CPU"


class MainWindow(QMainWindow):
    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.setWindowTitle("Inspector")
        self._placed = False
        self._build_menu()
        self._build_toolbar()
        self.welcome = WelcomePage(self.open_demo, self.create_workspace_dialog, self.open_workspace_dialog)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tab_widgets: dict[str, QWidget] = {}
        for spec in TABS:
            widget = spec.load()(state)
            self.tab_widgets[spec.key] = widget
            self.tabs.addTab(widget, spec.title)
        for i in range(min(9, len(TABS))):
            QShortcut(QKeySequence(f"Ctrl+{i + 1}"), self, lambda i=i: self.tabs.setCurrentIndex(i))
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.tabs)
        self.setCentralWidget(self.stack)
        # long paths and states elide ("…", full text in the tooltip) instead of being cut off
        self.ws_label = ElidedLabel(mode=Qt.TextElideMode.ElideMiddle)
        self.device_label, self.engine_label = QLabel(state.device_text), ElidedLabel()
        sb = self.statusBar()
        sb.addWidget(self.ws_label, 1)
        sb.addPermanentWidget(self.engine_label, 1)
        sb.addPermanentWidget(self.device_label)
        state.workspace_changed.connect(self._workspace_changed)
        state.products_changed.connect(self._fill_products)
        state.product_changed.connect(self._product_changed)
        state.product_updated.connect(lambda _n: self._show_product_state())
        state.device_resolved.connect(lambda _d, text: self.device_label.setText(text))
        state.role_changed.connect(self._role_changed)
        self._restore()
        self._workspace_changed()

    # --- chrome ------------------------------------------------------------------------------
    def _build_menu(self) -> None:
        m = self.menuBar().addMenu("&File")
        for text, key, fn in (("Open demo workspace", None, self.open_demo),
                              ("New workspace…", QKeySequence.StandardKey.New, self.create_workspace_dialog),
                              ("Open workspace…", None, self.open_workspace_dialog),
                              ("Quit", QKeySequence.StandardKey.Quit, self.close)):
            a = QAction(text, self)
            if key is not None:
                a.setShortcut(key)
            a.triggered.connect(fn)
            m.addAction(a)
        r = self.menuBar().addMenu("&Roles")
        self.roles_action = QAction("Require the engineer password for changes", self)
        self.roles_action.setCheckable(True)
        self.roles_action.triggered.connect(self.toggle_roles)
        self.password_action = QAction("Change the engineer password…", self)
        self.password_action.triggered.connect(lambda: self.set_password_dialog())
        r.addAction(self.roles_action)
        r.addAction(self.password_action)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Product")
        tb.setObjectName("productToolbar")
        tb.setMovable(False)
        tb.setFloatable(False)
        label = QLabel("  Product  ")
        self.picker = QComboBox()
        self.picker.setObjectName("productPicker")
        self.picker.setMinimumWidth(240)
        self.picker.setMinimumHeight(34)
        f = self.picker.font()
        f.setPointSizeF(f.pointSizeF() * 1.2)
        f.setBold(True)
        self.picker.setFont(f)
        self.picker.currentIndexChanged.connect(self._picked)
        self.product_state = ElidedLabel()
        self.product_state.setObjectName("productState")
        tb.addWidget(label)
        tb.addWidget(self.picker)
        tb.addWidget(QLabel("   "))
        tb.addWidget(self.product_state)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        self.role_label = QLabel()
        self.role_label.setObjectName("roleLabel")
        tb.addWidget(self.role_label)
        self.engineer_action = QAction("Engineer mode…", self)
        self.engineer_action.setObjectName("engineerAction")
        self.engineer_action.triggered.connect(lambda: self.engineer_dialog())
        self.lock_action = QAction("Lock", self)
        self.lock_action.setObjectName("lockAction")
        self.lock_action.setToolTip("Back to operator mode")
        self.lock_action.triggered.connect(self.state.lock)
        tb.addAction(self.engineer_action)
        tb.addAction(self.lock_action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb

    def show_tab(self, key: str) -> None:
        widget = self.tab_widgets.get(key)
        if widget is not None:
            self.stack.setCurrentWidget(self.tabs)
            self.tabs.setCurrentWidget(widget)

    # --- workspace -----------------------------------------------------------------------------
    def _workspace_changed(self) -> None:
        ws = self.state.workspace
        self.stack.setCurrentWidget(self.tabs if ws else self.welcome)
        self.toolbar.setVisible(ws is not None)
        self.ws_label.setText(f"Workspace: {ws.root}" if ws else "No workspace open")
        self.setWindowTitle(f"Inspector — {ws.root.name}" if ws else "Inspector")
        self._role_changed(self.state.role)
        if ws is not None and ws.cleaned:  # what opening removed after a crash: say so, as the CLI does
            note = describe_cleanup(ws.cleaned).removeprefix("note: ")
            self.statusBar().showMessage(note[:1].upper() + note[1:], 20000)
        if ws is not None and self.state.roles_on() and not self._has_password():
            self.set_password_dialog()  # roles on without a password: the first run sets it

    # --- roles -----------------------------------------------------------------------------------
    def _has_password(self) -> bool:
        from ..services.roles import has_password

        return self.state.workspace is not None and has_password(self.state.workspace)

    def _role_changed(self, role: str) -> None:
        on = role != ""
        self.role_label.setText({"operator": "Operator mode  ", "engineer": "<b>Engineer mode</b>  "}.get(role, ""))
        self.engineer_action.setVisible(role == "operator")
        self.lock_action.setVisible(role == "engineer")
        self.roles_action.setChecked(on)
        self.roles_action.setEnabled(self.state.workspace is not None and self.state.can_edit())
        self.password_action.setEnabled(self.state.workspace is not None and self.state.can_edit())
        for key in ENGINEER_TABS:
            w = self.tab_widgets.get(key)
            if w is not None:
                w.setEnabled(self.state.can_edit())
                w.setToolTip("" if self.state.can_edit() else LOCKED_TIP)

    def engineer_dialog(self) -> EngineerPasswordDialog:
        """The password dialog; the right password switches to engineer mode (returned for tests)."""
        dlg = EngineerPasswordDialog(self.state.unlock, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dlg.open()
        return dlg

    def set_password_dialog(self, then_roles_on: bool = False) -> Optional[SetPasswordDialog]:
        from ..services import roles as roles_svc

        ws = self.state.workspace
        if ws is None:
            return None
        if roles_svc.has_password(ws) and self.state.role != "engineer" and not then_roles_on:
            show_error(self, "changing the engineer password needs engineer mode — click “Engineer mode” first")
            return None

        def apply(pw: str) -> Optional[str]:
            try:  # replacing a password needs the current one: the one given when unlocking
                roles_svc.set_password(ws, pw, current=self.state.credential, actor=self.state.actor())
                if then_roles_on:
                    roles_svc.set_roles_enabled(ws, True, self.state.actor())
                self.state.refresh_role()
            except InspectorError as exc:
                return str(exc)
            return None
        dlg = SetPasswordDialog(apply, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dlg.open()
        return dlg

    def toggle_roles(self) -> None:
        """Roles menu: on (asks for a password first when none is set) or off (engineer only)."""
        from ..services import roles as roles_svc

        ws = self.state.workspace
        want = self.roles_action.isChecked()
        self.roles_action.setChecked(not want)  # shown as it is until it really changed
        if ws is None or not self.state.can_edit():
            return
        if want and not roles_svc.has_password(ws):
            self.set_password_dialog(then_roles_on=True)
            return
        try:
            roles_svc.set_roles_enabled(ws, want, self.state.actor())
        except InspectorError as exc:
            show_error(self, str(exc))
            return
        self.state.refresh_role()

    def open_path(self, path: Path, create: bool = False) -> bool:
        try:
            ws = init_workspace(path) if create else open_workspace(path)
        except InspectorError as exc:
            show_error(self, str(exc))
            return False
        self.state.set_workspace(ws)
        return True

    def create_workspace_dialog(self) -> NewWorkspaceDialog:
        """Ask for a location and a new (or empty) folder name, then create the workspace there."""
        dlg = NewWorkspaceDialog(Path.home(), self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dlg.accepted.connect(lambda: self.open_path(dlg.folder(), create=True))
        dlg.open()
        return dlg

    def open_workspace_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open workspace folder", str(Path.home()))
        if folder:
            self.open_path(Path(folder))

    def open_demo(self, root: Optional[Path] = None) -> None:
        """Create (or reopen) the demo workspace in a worker, fitting both products."""
        from ..services.demo import default_demo_dir

        root = Path(root) if root else default_demo_dir()
        if self.welcome.progress.busy():
            return
        self.stack.setCurrentWidget(self.welcome)
        self.welcome.demo_button.setEnabled(False)
        task = run_task(self, build_demo_workspace, root, self.state.device,
                        on_result=self.state.set_workspace,
                        on_finished=lambda: self.welcome.demo_button.setEnabled(True),
                        on_cancelled=lambda: self.welcome.set_message("Demo cancelled."),
                        on_error=lambda m, d: (self.welcome.set_message(f"The demo could not be made: {m}"),
                                               show_error(self, m, d)))
        self.welcome.progress.attach(task, "Preparing the demo…")

    # --- product picker ------------------------------------------------------------------------
    def _fill_products(self) -> None:
        self.picker.blockSignals(True)
        self.picker.clear()
        names = self.state.product_names()
        self.picker.addItems(names)
        if not names:
            self.picker.addItem("(no products yet)")
            self.picker.setEnabled(False)
        else:
            self.picker.setEnabled(True)
            self.picker.setCurrentIndex(max(0, self.picker.findText(self.state.product)))
        self.picker.blockSignals(False)

    def _picked(self) -> None:
        if self.picker.isEnabled():
            self.state.select_product(self.picker.currentText())

    def _product_changed(self, name: str) -> None:
        idx = self.picker.findText(name)
        if idx >= 0 and idx != self.picker.currentIndex():
            self.picker.blockSignals(True)
            self.picker.setCurrentIndex(idx)
            self.picker.blockSignals(False)
        self._show_product_state()

    def _show_product_state(self) -> None:
        info = self.state.product_info()
        if info is None:
            self.product_state.setText("Create a product in the Products tab" if self.state.workspace else "")
            self.engine_label.setText("")
            return
        fitted = self.state.fitted_text(info)
        thr = f" · threshold {info.threshold:.2f}" if info.threshold is not None else ""
        self.product_state.setText(f"{info.n_references} reference(s) · {fitted}{thr}")
        self.engine_label.setText(f"Engine: {fitted}")

    # --- device ----------------------------------------------------------------------------------
    def probe_device(self) -> None:
        run_task(self, probe_device, self.state.device_setting(), hooks=False,
                 on_result=lambda r: self.state.set_device(*r))

    # --- persistence -----------------------------------------------------------------------------
    def _available(self) -> QRect:
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry() if screen is not None else QRect(0, 0, 1280, 800)

    def _restore(self) -> None:
        s = self.state.settings
        avail = self._available()
        # never ask for more than the screen has (a 1366x768 laptop): leave room for the title bar
        self.setMinimumSize(QSize(min(1024, avail.width()), min(640, avail.height() - TITLE_BAR_PX)))
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)  # saved on another, maybe larger, screen: fitted on show
        else:
            self.resize(min(1280, avail.width()), min(800, avail.height() - TITLE_BAR_PX))
            self.move(avail.topLeft())
        for sp in self.findChildren(QSplitter):
            saved = s.value(f"splitters/{sp.objectName()}")
            if sp.objectName() and isinstance(saved, QByteArray):
                sp.restoreState(saved)
        self.tabs.setCurrentIndex(int(s.value("window/tab", 0) or 0))

    def save_layout(self) -> None:
        s = self.state.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/tab", self.tabs.currentIndex())
        for sp in self.findChildren(QSplitter):
            if sp.objectName():
                s.setValue(f"splitters/{sp.objectName()}", sp.saveState())
        if self.state.product:
            s.setValue("product", self.state.product)
        s.sync()

    def showEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        super().showEvent(event)
        if not self._placed:
            self._placed = True
            self.keep_on_screen()

    def keep_on_screen(self) -> None:
        """Shrink and move the window so its frame lies inside the screen's available area."""
        if self.isMaximized() or self.isFullScreen():
            return
        avail = self._available()
        frame, inner = self.frameGeometry(), self.geometry()
        extra_w, extra_h = frame.width() - inner.width(), frame.height() - inner.height()
        w = min(inner.width(), avail.width() - extra_w)
        h = min(inner.height(), avail.height() - extra_h)
        if (w, h) != (inner.width(), inner.height()):
            self.resize(w, h)
        frame = self.frameGeometry()
        x = min(max(frame.x(), avail.left()), avail.right() + 1 - frame.width())
        y = min(max(frame.y(), avail.top()), avail.bottom() + 1 - frame.height())
        if (x, y) != (frame.x(), frame.y()):
            self.move(x, y)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.save_layout()
        for w in self.tab_widgets.values():
            if hasattr(w, "shutdown"):
                w.shutdown()
        cancel_all(3000)
        self.welcome.progress.cancel()
        if self.state.workspace is not None:
            self.state.workspace.close()
        from ..services.audit import set_default_actor

        set_default_actor(None)  # this window's person and role no longer make the changes
        super().closeEvent(event)

    def last_workspace(self) -> str:
        return get_str(self.state.settings, "workspace")
