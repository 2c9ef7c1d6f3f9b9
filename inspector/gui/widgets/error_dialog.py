"""Errors as readable messages with a details expander; never a crash."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def show_error(parent: Optional[QWidget], message: str, details: str = "",
               title: str = "Inspector") -> QMessageBox:
    """Window-modal, non-blocking message box (open(), not exec(): workers keep reporting)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                      parent.window() if parent is not None else None)
    box.setObjectName("errorBox")
    if details:
        box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    box.open()
    return box
