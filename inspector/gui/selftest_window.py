"""The self-test's window check: the main window built offscreen on a first run."""

from __future__ import annotations

from pathlib import Path


def check_first_window(settings_file: Path) -> None:
    """Build the main window with fresh settings; it must show the welcome page with the demo
    button and render. Raises AssertionError naming what is wrong."""
    from PySide6.QtWidgets import QApplication

    from .app import create_window

    app = QApplication.instance() or QApplication(["inspector"])
    window = create_window(settings_file=settings_file)
    try:
        if window.stack.currentWidget() is not window.welcome:
            raise AssertionError("the first run does not show the welcome page")
        if window.welcome.demo_button.text() != "Open demo workspace":
            raise AssertionError("the welcome page has no 'Open demo workspace' button")
        window.show()
        app.processEvents()
        if window.grab().isNull():
            raise AssertionError("the main window does not render")
    finally:
        window.close()
        window.deleteLater()
        app.processEvents()
