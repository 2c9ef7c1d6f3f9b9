"""Entry point of the desktop application: `run(workspace=None, open_demo=False) -> exit code`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from ..storage.workspace import DB_NAME
from .main_window import MainWindow
from .settings import get_str, open_settings
from .state import AppState
from .theme import apply_theme


def configure_models(models_setting: str) -> None:
    """Point the weights libraries at the configured models folder before anything imports them."""
    try:
        from ..weights.locations import configure_environment
    except ImportError:  # pragma: no cover - the weights package is optional for the GUI shell
        return
    configure_environment(models_setting or None)


def create_window(workspace: Optional[Path] = None, open_demo: bool = False,
                  settings_file: Optional[Path] = None) -> MainWindow:
    """Build the main window (QApplication must exist): open `workspace`, the demo, or the last one.

    Without a workspace and with the last one missing, the welcome page shows and says why.
    """
    settings = open_settings(settings_file)
    configure_models(get_str(settings, "models_dir"))
    apply_theme(get_str(settings, "theme"))
    state = AppState(settings)
    window = MainWindow(state)
    if open_demo:
        window.open_demo(workspace)
    elif workspace is not None:
        window.open_path(Path(workspace), create=not (Path(workspace) / DB_NAME).exists())
    else:
        last = get_str(settings, "workspace")
        if last and (Path(last) / DB_NAME).is_file():
            window.open_path(Path(last))
        elif last:
            window.welcome.set_message(f"The last workspace, {last}, is no longer there. "
                                       "Open another one, create a new one, or try the demo.")
    QTimer.singleShot(0, window.probe_device)  # after the first paint: torch is slow to import
    return window


def run(workspace: Optional[Path] = None, open_demo: bool = False) -> int:
    """Create the QApplication and the main window, show it, and run the event loop."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Inspector")
    app.setOrganizationName("Inspector")
    window = create_window(workspace, open_demo)
    window.show()
    return int(app.exec())


if __name__ == "__main__":
    _paths = [a for a in sys.argv[1:] if not a.startswith("--")]
    sys.exit(run(Path(_paths[0]) if _paths else None, open_demo="--demo" in sys.argv))
