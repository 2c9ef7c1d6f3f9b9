"""The tabs of the main window, registered from one list (add Generator/Training here later).

Each tab is a QWidget class taking (state: AppState) with a `title`; optional methods:
`shutdown()` (stop work before the window closes).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class TabSpec:
    key: str
    title: str
    target: str  # "module:Class" relative to this package, imported when the window is built

    def load(self) -> type:
        module, _, name = self.target.partition(":")
        return getattr(import_module(f"{__name__}.{module}"), name)


TABS: list[TabSpec] = [
    TabSpec("products", "Products", "products_tab:ProductsTab"),
    TabSpec("inspect", "Inspect", "inspect_tab:InspectTab"),
    TabSpec("live", "Live", "live_tab:LiveTab"),
    TabSpec("history", "History", "history_tab:HistoryTab"),
    TabSpec("generator", "Generator", "generator_tab:GeneratorTab"),
    TabSpec("models", "Models", "models_tab:ModelsTab"),
    TabSpec("training", "Training", "training_tab:TrainingTab"),
    TabSpec("settings", "Settings", "settings_tab:SettingsTab"),
]
