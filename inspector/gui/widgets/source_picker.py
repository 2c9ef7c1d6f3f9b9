"""Live source chooser: camera number, video file, stream URL, replayed folder (with FPS), hot folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from ..settings import get_str

# kind id, label, placeholder, spec prefix, browse ("file" | "folder" | "")
SOURCE_KINDS = [
    ("camera", "Camera (device number)", "0", "", ""),
    ("video", "Video file", "/path/to/video.mp4", "video:", "file"),
    ("url", "Stream URL (RTSP / HTTP)", "rtsp://camera.local/stream", "", ""),
    ("folder", "Replayed image folder", "/path/to/images", "folder:", "folder"),
    ("hotfolder", "Hot folder (new files)", "/path/watched/by/the/line", "hotfolder:", "folder"),
]


def source_spec(kind: str, value: str) -> str:
    """What `camera.sources.open_source` takes for this kind and typed value."""
    prefix = next(k[3] for k in SOURCE_KINDS if k[0] == kind)
    return prefix + (value.strip() or ("0" if kind == "camera" else ""))


class SourcePicker(QWidget):
    """One row: kind, value, Browse, FPS (replays), record option. Remembers the last choice."""

    def __init__(self, settings: QSettings, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.kind = QComboBox()
        for kid, label, *_ in SOURCE_KINDS:
            self.kind.addItem(label, kid)
        self.value = QLineEdit()
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(1, 240)
        self.fps.setDecimals(1)
        self.fps.setSuffix(" FPS")
        self.fps.setToolTip("Frame rate of a replayed folder")
        self.fps.setValue(float(settings.value("live/fps", 30.0)))
        self.record = QComboBox()
        self.record.addItem("Record NG frames", "ng")
        self.record.addItem("Record all frames", "all")
        self.record.setCurrentIndex(max(0, self.record.findData(get_str(settings, "live/record"))))
        self.kind.setCurrentIndex(max(0, self.kind.findData(settings.value("live/kind", "folder"))))
        self.value.setText(str(settings.value("live/value", "")))
        self.kind.currentIndexChanged.connect(self._kind_changed)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in (QLabel("Source"), self.kind, self.value, self.browse, self.fps, self.record):
            lay.addWidget(w, 1 if w is self.value else 0)
        self._kind_changed()

    def set_source(self, kind: str, value: str, fps: Optional[float] = None) -> None:
        self.kind.setCurrentIndex(self.kind.findData(kind))
        self.value.setText(value)
        if fps is not None:
            self.fps.setValue(fps)

    def spec(self) -> tuple[str, Optional[float]]:
        """(source spec, fps or None) and remember the choice; raises ValueError when empty."""
        kind, value = self.kind.currentData(), self.value.text().strip()
        if not value and kind != "camera":
            raise ValueError("No source given: type or browse a source, then press Start.")
        s = self.settings
        s.setValue("live/kind", kind)
        s.setValue("live/value", value)
        s.setValue("live/fps", self.fps.value())
        s.setValue("live/record", self.record.currentData())
        return source_spec(kind, value), self.fps.value() if kind == "folder" else None

    def record_all(self) -> bool:
        return self.record.currentData() == "all"

    def set_running(self, running: bool) -> None:
        for w in (self.kind, self.value, self.record):
            w.setEnabled(not running)
        if running:
            self.browse.setEnabled(False)
            self.fps.setEnabled(False)
        else:
            self._kind_changed()

    def _kind_changed(self) -> None:
        kind = self.kind.currentData()
        _, _, placeholder, _, browse = next(k for k in SOURCE_KINDS if k[0] == kind)
        self.value.setPlaceholderText(placeholder)
        self.browse.setEnabled(bool(browse))
        self.fps.setEnabled(kind == "folder")

    def _browse(self) -> None:
        if self.kind.currentData() == "video":
            path, _ = QFileDialog.getOpenFileName(self, "Video file", str(Path.home()),
                                                  "Videos (*.mp4 *.avi *.mkv *.mov);;All files (*)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Image folder", str(Path.home()))
        if path:
            self.value.setText(path)
