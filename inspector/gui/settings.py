"""Application settings: one INI file (QSettings), redirectable for tests.

Keys used (all strings unless noted):
    workspace          last opened workspace folder
    product            last selected product name
    device             "auto" | "cpu" | "cuda"
    models_dir         weights folder (empty: the model manager's default)
    station, operator  written into every inspection record
    theme              "light" | "dark"
    live/record        "ng" | "all"
    line/retention     "all" | "ng" | "thumbs" (triggered mode's images)
    line/opcua         the PLC link, OPC UA [HOST:]PORT ("" = off); line/mqtt the MES link, mqtt://... ("" = off)
    window/geometry    QByteArray; window/tab (int); splitters/<name> (QByteArray)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSettings, QStandardPaths

ENV_VAR = "INSPECTOR_SETTINGS"
DEFAULTS = {"device": "auto", "theme": "light", "station": "", "operator": "", "models_dir": "",
            "live/record": "ng"}


def settings_path(path: Optional[Path] = None) -> Path:
    """The INI file: the argument, else $INSPECTOR_SETTINGS, else the per-user config folder."""
    if path is not None:
        return Path(path)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    return Path(base or Path.home() / ".config") / "inspector" / "inspector.ini"


def open_settings(path: Optional[Path] = None) -> QSettings:
    """QSettings in INI format at `settings_path(path)`."""
    p = settings_path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(p), QSettings.Format.IniFormat)


def get_str(settings: QSettings, key: str) -> str:
    value = settings.value(key, DEFAULTS.get(key, ""))
    return "" if value is None else str(value)
