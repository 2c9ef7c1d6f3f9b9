"""Small dialogs: new workspace, new product, delete product (type the name to confirm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QVBoxLayout, QWidget)

from ..storage.workspace import DB_NAME


TITLE_CHROME_PX = 160  # window-manager buttons and margins beside a dialog's title


def fit_title(dialog: QWidget) -> None:
    """Make `dialog` wide enough that the window manager shows its whole title (bold, a bit larger)."""
    f = dialog.font()
    f.setBold(True)
    f.setPointSizeF(f.pointSizeF() * 1.15)
    need = QFontMetrics(f).horizontalAdvance(dialog.windowTitle()) + TITLE_CHROME_PX
    dialog.setMinimumWidth(max(dialog.minimumWidth(), need))


def parse_tags(text: str) -> dict[str, Any]:
    """"material=steel, object=washer" -> {"material": "steel", "object": "washer"}.

    A bare word becomes a tag without a value ({"word": ""}).
    """
    tags: dict[str, Any] = {}
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        tags[key.strip()] = value.strip() if sep else ""
    return tags


def format_tags(tags: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" if v != "" else str(k) for k, v in tags.items())


def parse_words(text: str) -> list[str]:
    seen: list[str] = []
    for w in text.replace(";", ",").split(","):
        w = w.strip()
        if w and w not in seen:
            seen.append(w)
    return seen


class NewProductDialog(QDialog):
    """Name (required), description, tags, defect words."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New product")
        fit_title(self)
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. washer M8")
        self.description = QLineEdit()
        self.tags = QLineEdit()
        self.tags.setPlaceholderText("material=steel, object=washer")
        self.words = QLineEdit()
        self.words.setPlaceholderText("scratch, dent, crack")
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Description", self.description)
        form.addRow("Tags", self.tags)
        form.addRow("Defect words", self.words)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Create")
        self.ok.setEnabled(False)
        self.name.textChanged.connect(lambda t: self.ok.setEnabled(bool(t.strip())))
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)
        self.resize(460, self.sizeHint().height())

    def values(self) -> dict[str, Any]:
        return dict(name=self.name.text().strip(), description=self.description.text().strip(),
                    tags=parse_tags(self.tags.text()), defect_words=parse_words(self.words.text()))


class DeleteProductDialog(QDialog):
    """Deleting removes references, fitted state and history: confirm by typing the name."""

    def __init__(self, name: str, n_refs: int, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.product = name
        self.setWindowTitle("Delete product")
        fit_title(self)
        text = QLabel(f"Delete <b>{name}</b> with its {n_refs} reference image(s), fitted state and "
                      f"inspection history? This cannot be undone.<br><br>Type the product name to confirm:")
        text.setWordWrap(True)
        self.confirm = QLineEdit()
        self.confirm.setPlaceholderText(name)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Delete")
        self.ok.setEnabled(False)
        self.confirm.textChanged.connect(lambda t: self.ok.setEnabled(t == name))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addWidget(self.confirm)
        lay.addWidget(buttons)
        self.resize(440, self.sizeHint().height())


def new_workspace_problem(folder: Path) -> str:
    """Why `folder` cannot hold a new workspace ("" when it can: new, empty, or a workspace already)."""
    if not folder.name:
        return "Give the new workspace folder a name."
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file: choose another name."
    if folder.is_dir() and not (folder / DB_NAME).is_file() and any(folder.iterdir()):
        return f"{folder} already holds other files: choose a new name or an empty folder."
    parent = next((p for p in folder.parents if p.exists()), None)
    if parent is None or not parent.is_dir():
        return f"{folder.parent} does not exist: choose another location."
    return ""


class NewWorkspaceDialog(QDialog):
    """Where the new workspace goes: an existing location plus a folder name (new or empty).

    A folder picker cannot name a folder that does not exist yet, so the name is typed here.
    """

    def __init__(self, start: Path, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New workspace")
        fit_title(self)
        self.location = QLineEdit(str(start))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.location, 1)
        where.addWidget(browse)
        self.name = QLineEdit("inspector-workspace")
        self.name.setPlaceholderText("a new folder name, e.g. line-3")
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c62828;")
        intro = QLabel("A workspace is a folder holding the products, their images and the inspection "
                       "history. Give a new folder name (it is created) or an empty folder.")
        intro.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Location", where)
        form.addRow("Folder name", self.name)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Create")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.problem)
        lay.addWidget(buttons)
        for e in (self.location, self.name):
            e.textChanged.connect(self._check)
        self._check()
        self.resize(560, self.sizeHint().height())

    def folder(self) -> Path:
        return Path(self.location.text().strip()).expanduser() / self.name.text().strip()

    def _check(self) -> None:
        problem = new_workspace_problem(self.folder()) if self.name.text().strip() else "Give a folder name."
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        self.ok.setEnabled(not problem)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Location of the new workspace", self.location.text())
        if folder:
            self.location.setText(folder)
