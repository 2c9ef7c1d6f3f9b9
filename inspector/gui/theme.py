"""Light (default) and dark themes: the Fusion style with a neutral palette, no custom chrome."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

SPACING = 8  # the one spacing scale (px): layouts use multiples of it

LIGHT = {"Window": "#f4f5f7", "WindowText": "#1d2329", "Base": "#ffffff", "AlternateBase": "#eef1f4",
         "Text": "#1d2329", "Button": "#e9ecef", "ButtonText": "#1d2329", "Highlight": "#2f6db5",
         "HighlightedText": "#ffffff", "ToolTipBase": "#ffffdc", "ToolTipText": "#1d2329",
         "PlaceholderText": "#7a8590", "Mid": "#c3c9cf"}
DARK = {"Window": "#23272b", "WindowText": "#e3e6e9", "Base": "#1b1e21", "AlternateBase": "#2a2f34",
        "Text": "#e3e6e9", "Button": "#30353a", "ButtonText": "#e3e6e9", "Highlight": "#3d7fd1",
        "HighlightedText": "#ffffff", "ToolTipBase": "#30353a", "ToolTipText": "#e3e6e9",
        "PlaceholderText": "#8b949c", "Mid": "#4a5158"}


def apply_theme(name: str) -> None:
    app = QApplication.instance()
    if app is None:
        return
    app.setStyle("Fusion")
    colours = DARK if name == "dark" else LIGHT
    pal = QPalette()
    for role, colour in colours.items():
        pal.setColor(getattr(QPalette.ColorRole, role), QColor(colour))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(colours["PlaceholderText"]))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(colours["PlaceholderText"]))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor(colours["PlaceholderText"]))
    app.setPalette(pal)
