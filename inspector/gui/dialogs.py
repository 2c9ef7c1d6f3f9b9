"""Small dialogs: new product, delete product (type the name to confirm)."""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout,
                               QWidget)


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
