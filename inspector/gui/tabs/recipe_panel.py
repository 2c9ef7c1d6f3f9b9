"""The published recipe beside its draft (threshold, held-out scores, synthetic recall) and the
Publish button: inspection uses only the published state, a change waits here until published."""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtWidgets import QGroupBox, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget

from ...services import engine_state

ROWS = (("Version", lambda c: f"v{c['version']}"),
        ("Threshold", lambda c: f"{c['threshold']:.4f}"),
        ("False-reject target", lambda c: c["target_text"]),
        ("Held-out good scores", lambda c: str(c["good_scores"])),
        ("Synthetic recall", lambda c: "–" if c["synthetic_recall"] is None else f"{c['synthetic_recall']:.0%}"),
        ("References", lambda c: str(c["references"])))


class RecipePanel(QGroupBox):
    """Published | Draft columns; Publish (engineer) asks first and calls `on_publish`."""

    def __init__(self, on_publish: Callable[[], None], parent: Optional[QWidget] = None) -> None:
        super().__init__("Published recipe", parent)
        self.setObjectName("recipePanel")
        self._on_publish = on_publish
        self.table = QLabel()  # not wrapped: a table's rows keep their height
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.publish_button = QPushButton("Publish draft…")
        self.publish_button.setObjectName("publishButton")
        self.publish_button.clicked.connect(self.ask_publish)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addWidget(self.note)
        lay.addWidget(self.publish_button)
        self.published: Optional[dict] = None
        self.draft: Optional[dict] = None
        self.can_edit = True

    def set_product(self, ws, info, can_edit: bool) -> None:  # noqa: ANN001 - Workspace, ProductInfo
        self.can_edit = can_edit
        self.published = engine_state.state_summary(ws, info, info.state_version) if info and info.state_path \
            else None
        self.draft = engine_state.state_summary(ws, info, engine_state.draft_version(ws, info)) \
            if self.published else None
        self.setVisible(self.published is not None)
        if self.published is None:
            return
        cols = [("Published", self.published)] + ([("Draft", self.draft)] if self.draft else [])
        head = "".join(f"<th align='right'>&nbsp;{name}</th>" for name, _ in cols)
        body = "".join(f"<tr><td>{label}</td>" + "".join(f"<td align='right'>&nbsp;{fmt(c)}</td>" for _, c in cols)
                       + "</tr>" for label, fmt in ROWS)
        self.table.setText(f"<table cellspacing='2'><tr><th></th>{head}</tr>{body}</table>")
        note = engine_state.draft_pending_note(ws, info.name)
        if self.draft:
            self.note.setText(f"<b style='color:#b26a00'>Draft pending</b>: inspections use "
                              f"v{self.published['version']} until the draft is published.")
        elif note:
            why = engine_state.stale_reason(ws, info.name) or "the recipe changed"
            self.note.setText(f"<b style='color:#b26a00'>Draft pending</b>: {why} since "
                              f"v{self.published['version']} was published — fit a draft, then publish it.")
        else:
            self.note.setText("Inspections use the published version.")
        self.publish_button.setVisible(self.draft is not None)
        self.publish_button.setEnabled(self.draft is not None and can_edit)

    def ask_publish(self) -> None:
        if self.draft is None or not self.can_edit:
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Publish draft",
                          f"Publish draft v{self.draft['version']} (threshold {self.draft['threshold']:.4f}, "
                          f"false-reject target {self.draft['target_text']})? Inspections, Live and "
                          f"serve use it from the next part.",
                          QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("publishConfirm")
        box.accepted.connect(self._on_publish)
        box.open()
