"""Empty states that teach: a sentence saying what to do and a button that does it."""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget


class EmptyState(QWidget):
    """Centered message + optional action button."""

    def __init__(self, message: str, button_text: str = "", on_click: Optional[Callable[[], None]] = None,
                 detail: str = "", parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.label = QLabel(message)
        self.label.setObjectName("emptyTitle")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        f = self.label.font()
        f.setPointSizeF(f.pointSizeF() * 1.35)
        self.label.setFont(f)
        self.detail = QLabel(detail)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setWordWrap(True)
        self.detail.setVisible(bool(detail))
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        lay.addWidget(self.label)
        lay.addWidget(self.detail)
        self.button: Optional[QPushButton] = None
        if button_text:
            self.button = QPushButton(button_text)
            self.button.setMinimumHeight(40)
            if on_click:
                self.button.clicked.connect(on_click)
            lay.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(1)

    def set_message(self, message: str, detail: str = "") -> None:
        self.label.setText(message)
        self.detail.setText(detail)
        self.detail.setVisible(bool(detail))
