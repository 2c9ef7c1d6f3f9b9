"""Settings tab: workspace, models folder, device, station, operator, theme, image retention and the
line links (PLC over OPC UA, MES over MQTT), all saved at once."""

from __future__ import annotations

from typing import Optional

from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QVBoxLayout, QWidget)

from ...core.errors import InspectorError
from ..settings import get_str, settings_path
from ..state import AppState
from ..theme import apply_theme


class SettingsTab(QWidget):
    title = "Settings"

    def __init__(self, state: AppState, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.state = state
        s = state.settings
        self.workspace = QLabel()
        self.workspace.setObjectName("settingsWorkspace")
        switch = QPushButton("Switch workspace…")
        switch.clicked.connect(self._switch_workspace)
        ws_row = QHBoxLayout()
        ws_row.addWidget(self.workspace, 1)
        ws_row.addWidget(switch)
        self.models_dir = QLineEdit(get_str(s, "models_dir"))
        self.models_dir.setPlaceholderText("default (the checkout's models/ or the per-user folder)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_models)
        models_row = QHBoxLayout()
        models_row.addWidget(self.models_dir, 1)
        models_row.addWidget(browse)
        self.device = QComboBox()
        for value, label in (("auto", "Automatic (GPU when available)"), ("cpu", "CPU"), ("cuda", "GPU (CUDA)")):
            self.device.addItem(label, value)
        self.device.setCurrentIndex(max(0, self.device.findData(get_str(s, "device"))))
        self.device_note = QLabel(state.device_text)
        self.station = QLineEdit(get_str(s, "station"))
        self.station.setPlaceholderText("e.g. Line 3 / Station B")
        self.operator = QLineEdit(get_str(s, "operator"))
        self.operator.setPlaceholderText("name or badge number, written into each record")
        self.theme = QComboBox()
        self.theme.addItem("Light", "light")
        self.theme.addItem("Dark (dim inspection booths)", "dark")
        self.theme.setCurrentIndex(max(0, self.theme.findData(get_str(s, "theme"))))

        self.retention = QComboBox()  # read by the Live tab's triggered mode (LinePipeline retention)
        for value, label in (("all", "Keep every image"), ("ng", "Keep NG and RECHECK images only"),
                             ("thumbs", "Keep NG and RECHECK images, thumbnails of OK parts")):
            self.retention.addItem(label, value)
        self.retention.setObjectName("settingsRetention")
        self.retention.setCurrentIndex(max(0, self.retention.findData(get_str(s, "line/retention"))))

        general = QGroupBox("Workstation")
        form = QFormLayout(general)
        form.addRow("Workspace", ws_row)
        form.addRow("Models folder", models_row)
        models_note = QLabel("Engines pick up a new models folder after a restart; the Models tab uses it at once.")
        models_note.setWordWrap(True)
        form.addRow("", models_note)
        form.addRow("Device", self.device)
        form.addRow("", self.device_note)
        form.addRow("Station name", self.station)
        form.addRow("Operator", self.operator)
        form.addRow("Theme", self.theme)
        form.addRow("Image retention", self.retention)
        retention_note = QLabel("Triggered mode records every part; this says which images are kept with the records.")
        retention_note.setWordWrap(True)
        form.addRow("", retention_note)
        links = self._line_links(s)
        _align_labels(form, links.layout())  # the two boxes' fields start at one edge
        where = QLabel(f"Settings are saved as you change them, in {settings_path()}.")
        where.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(general)
        lay.addWidget(links)
        lay.addWidget(where)
        lay.addStretch(1)

        self.models_dir.editingFinished.connect(lambda: s.setValue("models_dir", self.models_dir.text().strip()))
        self.station.editingFinished.connect(lambda: s.setValue("station", self.station.text().strip()))
        self.operator.editingFinished.connect(lambda: s.setValue("operator", self.operator.text().strip()))
        self.device.currentIndexChanged.connect(self._device_changed)
        self.theme.currentIndexChanged.connect(self._theme_changed)
        self.retention.currentIndexChanged.connect(
            lambda: s.setValue("line/retention", self.retention.currentData()))
        state.workspace_changed.connect(self._show_workspace)
        state.device_resolved.connect(lambda _d, text: self.device_note.setText(text))
        self._show_workspace()

    def _line_links(self, s) -> QGroupBox:  # noqa: ANN001 - the QSettings
        """The PLC / MES fields, read by the Live tab when a triggered run starts."""
        self.opcua = QLineEdit(get_str(s, "line/opcua"))
        self.opcua.setObjectName("settingsOpcua")
        self.opcua.setPlaceholderText("off — e.g. 4840 or 127.0.0.1:4840 (the port this station serves)")
        self.mqtt = QLineEdit(get_str(s, "line/mqtt"))
        self.mqtt.setObjectName("settingsMqtt")
        self.mqtt.setPlaceholderText("off — e.g. mqtt://broker:1883/plant/line1/parts")
        self.link_errors: dict[str, QLabel] = {}
        box = QGroupBox("Line links (Live tab, triggered mode)")
        form = QFormLayout(box)
        for key, label, field in (("line/opcua", "PLC (OPC UA)", self.opcua), ("line/mqtt", "MES (MQTT)", self.mqtt)):
            error = QLabel()
            error.setObjectName(f"settingsError{key.split('/')[1].capitalize()}")
            error.setWordWrap(True)
            error.setStyleSheet("color: #c62828;")
            error.setVisible(False)
            self.link_errors[key] = error
            cell = QVBoxLayout()  # the message sits under its field and takes no room while hidden
            cell.setSpacing(2)
            cell.addWidget(field)
            cell.addWidget(error)
            form.addRow(label, cell)
            field.editingFinished.connect(lambda k=key, f=field: self._link_edited(k, f))
            self._show_link_error(key, self._link_problem(key, field.text().strip()))
        note = QLabel("A triggered run in the Live tab serves OPC UA to the PLC and publishes every verdict to "
                      "the MES broker, as the headless station (inspector serve) does; the PLC and the MES can "
                      "trigger a camera too. Blank is off; a change is used from the next Start.")
        note.setWordWrap(True)
        form.addRow("", note)
        return box

    def _link_problem(self, key: str, text: str) -> str:
        """"" when `text` is blank or a valid endpoint / URL, else the message for the user."""
        from ...line.links import station_id
        from ...line.mqtt import parse_mqtt_url
        from ...line.opcua import parse_endpoint

        if not text:
            return ""
        try:
            if key == "line/opcua":
                parse_endpoint(text, flag="")
            else:
                parse_mqtt_url(text, station_id(self.state.station()))
        except InspectorError as exc:
            return f"error: {exc}"
        return ""

    def _show_link_error(self, key: str, problem: str) -> None:
        error = self.link_errors[key]
        error.setText(f"{problem}\nNot saved: this link stays off until the address is fixed." if problem else "")
        error.setVisible(bool(problem))

    def _link_edited(self, key: str, field: QLineEdit) -> None:
        text = field.text().strip()
        problem = self._link_problem(key, text)
        self.state.settings.setValue(key, "" if problem else text)  # a bad address is never used
        self._show_link_error(key, problem)

    def _show_workspace(self) -> None:
        root = self.state.workspace_root()
        self.workspace.setText(str(root) if root else "none open")

    def _switch_workspace(self) -> None:
        main = self.window()
        if hasattr(main, "open_workspace_dialog"):
            main.open_workspace_dialog()

    def _browse_models(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Models folder", self.models_dir.text())
        if folder:
            self.models_dir.setText(folder)
            self.state.settings.setValue("models_dir", folder)

    def _device_changed(self) -> None:
        self.state.settings.setValue("device", self.device.currentData())
        main = self.window()
        if hasattr(main, "probe_device"):
            main.probe_device()

    def _theme_changed(self) -> None:
        theme = self.theme.currentData()
        self.state.settings.setValue("theme", theme)
        apply_theme(theme)


def _align_labels(*forms: QFormLayout) -> None:
    """Give every row label of the forms the widest one's width."""
    labels = [form.itemAt(row, QFormLayout.ItemRole.LabelRole).widget() for form in forms
              for row in range(form.rowCount()) if form.itemAt(row, QFormLayout.ItemRole.LabelRole) is not None]
    width = max((label.sizeHint().width() for label in labels), default=0)
    for label in labels:
        label.setMinimumWidth(width)
