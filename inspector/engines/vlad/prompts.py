"""Normal / abnormal text prompts for VLAD, built from resources/defect_vocabulary.toml.

A prompt is a template ("a photo of a {}.") filled with a state phrase ("flawless cookie").
The engineer's defect words ("crack", "burnt edge") add abnormal state phrases, so the
vision-language map looks for the defects this product actually has.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ...core.errors import InspectorError

VOCABULARY_ENV = "INSPECTOR_DEFECT_VOCABULARY"
VOCABULARY_NAME = "defect_vocabulary.toml"


@dataclass(frozen=True)
class Vocabulary:
    normal: tuple[str, ...]  # state phrases with "{object}"
    abnormal: tuple[str, ...]
    defect_states: tuple[str, ...]  # with "{object}" and "{defect}"
    templates: tuple[str, ...]  # with "{}"


def vocabulary_path() -> Path:
    """INSPECTOR_DEFECT_VOCABULARY, else resources/ of the checkout or of a frozen app bundle."""
    env = os.environ.get(VOCABULARY_ENV)
    if env:
        return Path(env).expanduser()
    candidates = [Path(__file__).resolve().parents[3] / "resources" / VOCABULARY_NAME]
    bundle = getattr(sys, "_MEIPASS", None)  # PyInstaller unpack folder
    if bundle:
        candidates.append(Path(bundle) / "resources" / VOCABULARY_NAME)
    for c in candidates:
        if c.is_file():
            return c
    return candidates[0]


def _strings(table: dict, key: str, where: Path, needs: Sequence[str]) -> tuple[str, ...]:
    items = table.get(key)
    if not isinstance(items, list) or not items or not all(isinstance(s, str) for s in items):
        raise InspectorError(f"{where}: '{key}' must be a non-empty list of strings")
    for s in items:
        missing = [n for n in needs if n not in s]
        if missing:
            raise InspectorError(f"{where}: '{key}' entry {s!r} lacks {', '.join(missing)}")
    return tuple(items)


def load_vocabulary(path: Optional[Path] = None) -> Vocabulary:
    """Parse the vocabulary file; raises InspectorError naming the file and what is wrong."""
    p = Path(path) if path is not None else vocabulary_path()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InspectorError(f"defect vocabulary not found: {p} (set {VOCABULARY_ENV} "
                             "or reinstall the application)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InspectorError(f"defect vocabulary {p} is not valid TOML: {exc}") from None
    states, templates = data.get("states", {}), data.get("templates", {})
    return Vocabulary(
        normal=_strings(states, "normal", p, ["{object}"]),
        abnormal=_strings(states, "abnormal", p, ["{object}"]),
        defect_states=_strings(states, "defect_states", p, ["{object}", "{defect}"]),
        templates=_strings(templates, "prompts", p, ["{}"]),
    )


def build_prompts(object_name: str, defect_words: Sequence[str],
                  vocabulary: Optional[Vocabulary] = None) -> tuple[list[str], list[str]]:
    """(normal prompts, abnormal prompts): every state phrase in every template.

    Blank defect words are ignored; duplicates are dropped keeping the first.
    """
    voc = vocabulary or load_vocabulary()
    obj = " ".join(object_name.split()) or "object"
    words = list(dict.fromkeys(" ".join(w.split()) for w in defect_words if w and w.strip()))
    normal_states = [s.format(object=obj) for s in voc.normal]
    abnormal_states = [s.format(object=obj) for s in voc.abnormal]
    abnormal_states += [s.format(object=obj, defect=w) for w in words for s in voc.defect_states]

    def fill(states: list[str]) -> list[str]:
        return list(dict.fromkeys(t.format(s) for s in states for t in voc.templates))

    return fill(normal_states), fill(abnormal_states)
