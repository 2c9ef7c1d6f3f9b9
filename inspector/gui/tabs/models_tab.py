"""Models tab: foundation weights known to the manifest, their status, import/verify/download.

Every check, copy, verification and download runs in a worker with progress and cancel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ..settings import get_str
from ..state import AppState
from ..widgets.error_dialog import show_error
from ..widgets.progress_panel import ProgressPanel
from ..workers import run_task
from ...core.units import format_bytes

COLUMNS = ["Model", "Status", "Size", "Used by", "Path / problem"]
STATUS_COLOURS = {"missing": "#8a6d00", "present": "#1b5e9e", "verified": "#1b7f3b", "corrupt": "#c62828"}


def models_root(setting: str) -> Path:
    from ...weights.locations import models_dir
    return models_dir(setting or None)


def list_status(setting: str, full: bool = False, ids: Optional[list[str]] = None,
                progress=None, cancel=None):  # noqa: ANN001, ANN201 - (root, [(spec, status)])
    """Worker: status of every manifest model (quick checks, or full verification when `full`)."""
    from ...weights.manifest import load_manifest
    from ...weights.verify import VerifyCache, check_model

    root = models_root(setting)
    manifest = load_manifest()
    cache = VerifyCache(root)
    specs = [s for s in manifest.models if ids is None or s.id in ids]
    out = []
    for i, spec in enumerate(specs):
        if cancel is not None and cancel():
            break
        if progress is not None:
            progress(i, len(specs), f"{'verifying' if full else 'checking'} {spec.id}")
        out.append((spec, check_model(spec, root, full=full, cache=cache, progress=progress if full else None,
                                      cancel=cancel)))
    return root, out


def import_weights(setting: str, path: Path, progress=None, cancel=None):  # noqa: ANN001, ANN201
    from ...weights.importer import import_path
    return import_path(path, root=models_root(setting), progress=progress, cancel=cancel)


def download_model(setting: str, model_id: str, progress=None, cancel=None):  # noqa: ANN001, ANN201
    from ...weights.download import download
    return download(model_id, progress, cancel, root=models_root(setting))


class ModelsTab(QWidget):
    title = "Models"

    def __init__(self, state: AppState, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.state = state
        self.rows: list = []
        self.folder = QLabel()
        self.folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = []
        for text, fn in (("Refresh", self.refresh), ("Import file…", self.import_file_dialog),
                         ("Import folder…", self.import_folder_dialog)):
            b = QPushButton(text)
            b.clicked.connect(fn)
            buttons.append(b)
        head = QHBoxLayout()
        head.addWidget(self.folder, 1)
        for b in buttons:
            head.addWidget(b)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("modelsTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selected)
        self.details = QLabel("Select a model to see where to get it.")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setMinimumHeight(60)
        self.verify_btn = QPushButton("Verify")
        self.verify_btn.clicked.connect(self.verify_selected)
        self.download_btn = QPushButton("Download")
        self.download_btn.clicked.connect(self.download_selected)
        for b in (self.verify_btn, self.download_btn):
            b.setEnabled(False)
        actions = QHBoxLayout()
        actions.addWidget(self.details, 1)
        actions.addWidget(self.verify_btn)
        actions.addWidget(self.download_btn)
        self.progress = ProgressPanel()
        self.note = QLabel("Weights are never downloaded on their own. Air-gapped? Copy the files on a "
                           "USB stick and use Import: files are identified, verified and then copied.")
        self.note.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(self.note)
        lay.addWidget(self.table, 1)
        lay.addLayout(actions)
        lay.addWidget(self.progress)
        self._loaded = False

    def showEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override: check on first visit
        super().showEvent(event)
        if not self._loaded:
            self.refresh()

    def setting(self) -> str:
        return get_str(self.state.settings, "models_dir")

    def refresh(self) -> None:
        self._loaded = True
        if self.progress.busy():
            return
        task = run_task(self, list_status, self.setting(), on_result=self._show)
        self.progress.attach(task, "Checking models…")

    def _show(self, result) -> None:  # noqa: ANN001
        root, rows = result
        self.rows = rows
        self.folder.setText(f"Models folder: <b>{root}</b>")
        self.table.setRowCount(len(rows))
        for r, (spec, st) in enumerate(rows):
            where = st.detail if st.status in ("corrupt", "missing") else str(st.path or "")
            cells = [f"{spec.title}\n{spec.id}", st.status, format_bytes(st.size or spec.total_size(), "–"),
                     ", ".join(spec.engines), where]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 1:
                    item.setForeground(QColor(STATUS_COLOURS.get(st.status, "#000000")))
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                self.table.setItem(r, c, item)
        self.table.resizeRowsToContents()
        if rows and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)  # show where to get the first model rather than an empty line
        self._selected()

    def _current(self):  # noqa: ANN202
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()] if rows and rows[0].row() < len(self.rows) else None

    def _selected(self) -> None:
        cur = self._current()
        self.verify_btn.setEnabled(cur is not None and cur[1].status != "missing")
        self.download_btn.setEnabled(cur is not None and not cur[1].usable)
        if cur is None:
            return
        spec, st = cur
        size = format_bytes(spec.total_size(), "–")
        files = ", ".join(f.name for f in spec.preferred_files())
        self.details.setText(f"<b>{spec.title}</b> — {st.status}: {st.detail or ''}<br>"
                             f"Get it from {spec.source} ({files}; {size}). Licence: {spec.licence}.")

    def verify_selected(self) -> None:
        cur = self._current()
        if cur is None or self.progress.busy():
            return
        task = run_task(self, list_status, self.setting(), True, [cur[0].id], on_result=lambda _r: self.refresh())
        self.progress.attach(task, f"Verifying {cur[0].id}…")

    def download_selected(self) -> None:
        cur = self._current()
        if cur is None or self.progress.busy():
            return
        task = run_task(self, download_model, self.setting(), cur[0].id, on_finished=self.refresh)
        self.progress.attach(task, f"Downloading {cur[0].id}…")

    def import_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import weights (file or archive)", str(Path.home()),
                                              "Weights (*.pth *.pt *.bin *.safetensors *.zip *.tar *.gz *.tgz);;"
                                              "All files (*)")
        if path:
            self.import_path(Path(path))

    def import_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import weights from a folder", str(Path.home()))
        if path:
            self.import_path(Path(path))

    def import_path(self, path: Path) -> None:
        if self.progress.busy():
            return
        task = run_task(self, import_weights, self.setting(), path, on_result=self._imported,
                        on_finished=self.refresh)
        self.progress.attach(task, f"Importing {path.name}…")

    def _imported(self, results) -> None:  # noqa: ANN001
        bad = [r for r in results if not r.ok]
        if bad:
            show_error(self, f"{len(results) - len(bad)} model(s) imported, {len(bad)} not.",
                       "\n".join(r.message for r in results))
