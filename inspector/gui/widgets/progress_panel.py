"""Progress bar + message + time estimate + Cancel, attached to one running Task at a time."""

from __future__ import annotations

import time
from typing import Optional

from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from ..workers import Task
from .elided_label import ElidedLabel


def format_eta(seconds: float) -> str:
    if seconds < 1:
        return "less than a second left"
    if seconds < 90:
        return f"about {seconds:.0f} s left"
    return f"about {seconds / 60:.0f} min left"


class ProgressPanel(QWidget):
    """Hidden while idle; shows what the attached task is doing and how long it may take."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.label = ElidedLabel()  # long step texts elide ("…") instead of being cut
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.bar, 2)
        lay.addWidget(self.label, 3)
        lay.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self.cancel)
        self.task: Optional[Task] = None
        self.setVisible(False)

    def attach(self, task: Task, message: str = "Working…") -> None:
        self.task = task
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.label.setText(message)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        task.progress.connect(self._progress)
        task.finished.connect(self._finished)
        self.setVisible(True)

    def busy(self) -> bool:
        return self.task is not None

    def cancel(self) -> None:
        if self.task is not None and self.task.running:
            self.task.cancel()
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling…")

    def _progress(self, done: int, total: int, msg: str) -> None:
        if self.sender() is not self.task:
            return
        if total <= 0:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
        text = msg
        if self.task is not None and 0 < done < total:
            elapsed = time.monotonic() - self.task.started_at
            text = f"{msg} — {format_eta(elapsed / done * (total - done))}"
        self.label.setText(text)

    def _finished(self) -> None:
        if self.sender() is self.task:
            self.task = None
            self.setVisible(False)
