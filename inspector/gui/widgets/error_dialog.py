"""Errors as readable messages with a details expander; never a crash."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QGridLayout, QMessageBox, QSizePolicy, QSpacerItem, QWidget


def show_error(parent: Optional[QWidget], message: str, details: str = "",
               title: str = "Inspector") -> QMessageBox:
    """Window-modal, non-blocking message box (open(), not exec(): workers keep reporting)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                      parent.window() if parent is not None else None)
    box.setObjectName("errorBox")
    # a QMessageBox sizes itself to its text: a spacer row keeps the title from being cut
    f = box.font()
    f.setBold(True)
    need = QFontMetrics(f).horizontalAdvance(title) * 1.15 + 160
    grid = box.layout()
    if isinstance(grid, QGridLayout):
        grid.addItem(QSpacerItem(int(need), 0, QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Expanding),
                     grid.rowCount(), 0, 1, grid.columnCount())
    if details:
        box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    box.open()
    return box
