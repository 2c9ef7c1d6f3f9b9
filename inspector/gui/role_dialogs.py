"""Engineer mode: the password dialog that unlocks editing, and the one that sets the password."""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from .dialogs import fit_title


def _password_field(name: str) -> QLineEdit:
    field = QLineEdit()
    field.setObjectName(name)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    return field


class EngineerPasswordDialog(QDialog):
    """Asks for the engineer password; `check(password) -> bool` decides. A wrong one keeps the
    dialog open with a message (operator mode stays)."""

    def __init__(self, check: Callable[[str], bool], parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Engineer mode")
        self._check = check
        self.password = _password_field("engineerPassword")
        self.message = QLabel("Recipes, references, thresholds, engines and settings can be changed in "
                              "engineer mode. Every change is written to the audit trail.")
        self.message.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("passwordError")
        self.error.setStyleSheet("color: #c62828; font-weight: bold")
        self.error.hide()
        form = QFormLayout()
        form.addRow("Engineer password", self.password)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Unlock")
        buttons.accepted.connect(self._try)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.message)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self.setMinimumWidth(420)
        fit_title(self)

    def _try(self) -> None:
        if self._check(self.password.text()):
            self.accept()
            return
        self.password.clear()
        self.error.setText("Wrong engineer password — still in operator mode.")
        self.error.show()
        self.password.setFocus()


class SetPasswordDialog(QDialog):
    """The first engineer password (or a new one): typed twice, at least MIN_PASSWORD characters."""

    def __init__(self, on_set: Callable[[str], Optional[str]], parent: Optional[QWidget] = None,
                 intro: str = "") -> None:
        from ..services.roles import MIN_PASSWORD

        super().__init__(parent)
        self.setWindowTitle("Set the engineer password")
        self._on_set, self._min = on_set, MIN_PASSWORD
        self.first = _password_field("newPassword")
        self.again = _password_field("newPasswordAgain")
        note = QLabel(intro or "With roles on, this station opens in operator mode: inspecting, live and "
                               "history only. The engineer password unlocks editing.")
        note.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("setPasswordError")
        self.error.setStyleSheet("color: #c62828; font-weight: bold")
        self.error.hide()
        form = QFormLayout()
        form.addRow("New password", self.first)
        form.addRow("Again", self.again)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._try)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(note)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self.setMinimumWidth(440)
        fit_title(self)

    def _fail(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def _try(self) -> None:
        pw = self.first.text()
        if len(pw) < self._min:
            return self._fail(f"At least {self._min} characters, please.")
        if pw != self.again.text():
            return self._fail("The two passwords differ.")
        problem = self._on_set(pw)
        if problem:
            return self._fail(problem)
        self.accept()
