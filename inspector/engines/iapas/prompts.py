"""From a product's tags to Grounding DINO defect prompts (seed 002, preprocessing stage).

Prompts come from (a) the engineer's defect words, (b) the curated vocabulary in
resources/iapas_vocabulary.toml keyed by material and object kind, and (c) optionally a
local instruction-tuned causal LM (greedy decoding, so the same tags give the same words).
The result is a PromptSet with a version hash; the engine stores it in the fitted state,
so inspecting never calls an LLM and a product keeps its prompts until it is refitted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from ...core.errors import InspectorError

VOCABULARY_ENV = "INSPECTOR_IAPAS_VOCABULARY"
VOCABULARY_NAME = "iapas_vocabulary.toml"
LLM_FOLDER = "prompt-llm"  # `<models folder>/prompt-llm`: any transformers causal LM
MAX_LLM_WORDS = 10
_WORD = re.compile(r"[a-z][a-z' -]*[a-z]")
STOP_WORDS = frozenset("a an the of on in at with and or to for from by is are its it this that "
                       "surface area part piece".split())


@dataclass(frozen=True)
class VocabularyEntry:
    key: str
    aliases: tuple[str, ...]
    defects: tuple[str, ...]
    phrases: tuple[str, ...]

    def matches(self, tag_text: str) -> bool:
        words = f" {tag_text} "
        return any(f" {name} " in words for name in (self.key, *self.aliases))


@dataclass(frozen=True)
class Vocabulary:
    version: int
    generic: VocabularyEntry
    materials: tuple[VocabularyEntry, ...]
    objects: tuple[VocabularyEntry, ...]
    path: Path


@dataclass
class PromptSet:
    """The prompts one product is inspected with.

    object_prompt: the object tag, detected first for the size filter.
    prompts: defect phrases, in priority order (engineer's words first).
    sources: where each prompt came from ("engineer", "vocabulary", "llm", "edited").
    version: 12 hex digits over everything above and the vocabulary version.
    """

    object_prompt: str
    prompts: list[str]
    sources: dict[str, str] = field(default_factory=dict)
    vocabulary_version: int = 0
    version: str = ""

    def __post_init__(self) -> None:
        if not self.version:
            blob = json.dumps([self.object_prompt, self.prompts, self.vocabulary_version])
            self.version = hashlib.sha256(blob.encode()).hexdigest()[:12]

    def to_json(self) -> dict[str, Any]:
        return {"object_prompt": self.object_prompt, "prompts": list(self.prompts),
                "sources": dict(self.sources), "vocabulary_version": self.vocabulary_version,
                "version": self.version}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "PromptSet":
        return cls(str(data["object_prompt"]), [str(p) for p in data["prompts"]],
                   dict(data.get("sources", {})), int(data.get("vocabulary_version", 0)),
                   str(data.get("version", "")))


def vocabulary_path() -> Path:
    """INSPECTOR_IAPAS_VOCABULARY, else resources/ of the checkout or of a frozen app bundle."""
    env = os.environ.get(VOCABULARY_ENV)
    if env:
        return Path(env).expanduser()
    candidates = [Path(__file__).resolve().parents[3] / "resources" / VOCABULARY_NAME]
    bundle = getattr(sys, "_MEIPASS", None)  # PyInstaller unpack folder
    if bundle:
        candidates.append(Path(bundle) / "resources" / VOCABULARY_NAME)
    return next((c for c in candidates if c.is_file()), candidates[0])


def _entry(key: str, table: Any, where: str) -> VocabularyEntry:
    if not isinstance(table, dict):
        raise InspectorError(f"{where}: [{key}] must be a table")
    lists = {}
    for name in ("aliases", "defects", "phrases"):
        items = table.get(name, [])
        if not isinstance(items, list) or not all(isinstance(s, str) and s.strip() for s in items):
            raise InspectorError(f"{where}: [{key}] '{name}' must be a list of non-empty strings")
        lists[name] = tuple(" ".join(s.lower().split()) for s in items)
    if not lists["defects"] and not lists["phrases"]:
        raise InspectorError(f"{where}: [{key}] needs 'defects' or 'phrases'")
    return VocabularyEntry(key.lower(), lists["aliases"], lists["defects"], lists["phrases"])


def load_vocabulary(path: Optional[Path] = None) -> Vocabulary:
    """Parse the IAP-AS vocabulary; raises InspectorError naming the file and what is wrong."""
    p = Path(path) if path is not None else vocabulary_path()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InspectorError(f"IAP-AS defect vocabulary not found: {p} (set {VOCABULARY_ENV} "
                             "or reinstall the application)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InspectorError(f"IAP-AS defect vocabulary {p} is not valid TOML: {exc}") from None
    version = data.get("version")
    if not isinstance(version, int):
        raise InspectorError(f"{p}: 'version' must be an integer")

    def group(name: str) -> tuple[VocabularyEntry, ...]:
        tables = data.get(name, {})
        if not isinstance(tables, dict):
            raise InspectorError(f"{p}: [{name}] must be a table of tables")
        return tuple(_entry(f"{name}.{k}", v, str(p)) for k, v in tables.items())

    generic = _entry("generic", data.get("generic", {}), str(p))
    strip = lambda es: tuple(VocabularyEntry(e.key.split(".", 1)[1], e.aliases, e.defects,  # noqa: E731
                                             e.phrases) for e in es)
    return Vocabulary(version, generic, strip(group("materials")), strip(group("objects")), p)


def _clean(text: str) -> str:
    return " ".join(str(text).lower().replace("_", " ").split())


def tag_text(object_name: str, tags: dict[str, Any]) -> str:
    """All tag values as one lower-case string (for vocabulary matching)."""
    values = [object_name] + [str(v) for v in tags.values() if isinstance(v, (str, int, float))]
    return " ".join(_clean(v) for v in values if v)


def vocabulary_prompts(object_name: str, tags: dict[str, Any],
                       vocabulary: Optional[Vocabulary] = None) -> list[str]:
    """Matched materials' and object kinds' phrases and defects, then the generic ones."""
    voc = vocabulary or load_vocabulary()
    text = tag_text(object_name, tags)
    obj = _clean(object_name) or "object"
    material = _clean(str(tags.get("material", ""))) or "material"
    entries = [e for e in voc.materials if e.matches(text)] + \
              [e for e in voc.objects if e.matches(text)] + [voc.generic]
    out: list[str] = []
    for e in entries:
        for s in (*e.phrases, *e.defects):
            out.append(s.replace("{object}", obj).replace("{material}", material))
    return list(dict.fromkeys(out))


def object_words(object_name: str) -> set[str]:
    """Content words of the object tag (a phrase made of only these names the object)."""
    return {w for w in _clean(object_name).split() if w not in STOP_WORDS}


def names_object(phrase: str, object_name: str) -> bool:
    """True when the phrase's content words are all words of the object tag ("bottle")."""
    words = {w for w in re.findall(r"[a-z]+", phrase.lower()) if w not in STOP_WORDS}
    obj = object_words(object_name)
    return bool(words) and bool(obj) and words <= obj


# ----------------------------------------------------------------------------- LLM

def llm_instruction(object_name: str, tags: dict[str, Any]) -> str:
    """The one instruction the LLM gets (fixed wording, so its answer is reproducible)."""
    bits = [_clean(str(tags.get(k, ""))) for k in ("colour", "material")]
    desc = " ".join(b for b in bits if b) + " " + (_clean(object_name) or "object")
    surface = _clean(str(tags.get("surface", "")))
    if surface:
        desc += f" with a {surface} surface"
    return (f"List visible defects that a quality inspector may find on a {desc.strip()}. "
            "Answer with short noun phrases (one to four words) separated by commas, no sentences.")


def parse_llm_words(text: str, object_name: str, limit: int = MAX_LLM_WORDS) -> list[str]:
    """Short visual phrases from an LLM answer: split on commas, lines, numbering; clean."""
    out = []
    for piece in re.split(r"[,;\n]|\d+[.)]", text.lower()):
        m = _WORD.search(piece.replace("-", " "))
        if not m:
            continue
        phrase = " ".join(m.group(0).split())
        if not 1 <= len(phrase.split()) <= 4 or len(phrase) > 40 or names_object(phrase, object_name) \
                or set(phrase.split()) <= STOP_WORDS:
            continue
        out.append(phrase)
    return list(dict.fromkeys(out))[:limit]


def llm_folder(setting: str) -> Optional[Path]:
    """The causal LM folder for `llm` ("auto" | "" | path | name in the models folder), or None."""
    if not setting:
        return None
    from ...weights.locations import models_dir

    if setting == "auto":
        folder = models_dir() / LLM_FOLDER
        return folder if (folder / "config.json").is_file() else None
    p = Path(setting).expanduser()
    folder = p if p.is_absolute() or p.exists() else models_dir() / setting
    if not (folder / "config.json").is_file():
        raise InspectorError(f"IAP-AS setting llm: {folder} is not a transformers model folder "
                             "(no config.json); fix the path or set llm to \"\"")
    return folder


def llm_words(folder: Path, object_name: str, tags: dict[str, Any], max_new_tokens: int = 48,
              device: str = "cpu") -> list[str]:
    """Defect phrases from a local causal LM, greedy-decoded (deterministic)."""
    import torch

    from ...weights.loaders import load_causal_lm

    model, tokenizer = load_causal_lm(folder, device)
    instruction = llm_instruction(object_name, tags)
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template([{"role": "user", "content": instruction}],
                                             tokenize=False, add_generation_prompt=True)
    else:
        text = instruction + "\nDefects:"
    enc = tokenizer(text, return_tensors="pt").to(model.device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.no_grad():
        out = model.generate(**enc, do_sample=False, num_beams=1, max_new_tokens=max_new_tokens,
                             pad_token_id=pad)
    answer = tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return parse_llm_words(answer, object_name)


def build_prompt_set(object_name: str, tags: dict[str, Any], defect_words: Sequence[str],
                     explicit: Optional[Sequence[str]] = None, llm: str = "",
                     llm_max_new_tokens: int = 48, device: str = "cpu",
                     vocabulary: Optional[Vocabulary] = None) -> PromptSet:
    """The product's PromptSet: an explicit (edited) list as is, else engineer's words +
    LLM words (when a local LM is there) + curated vocabulary, duplicates dropped."""
    obj = _clean(object_name) or "object"
    voc = vocabulary or load_vocabulary()
    if explicit:
        prompts = list(dict.fromkeys(_clean(p) for p in explicit if _clean(p)))
        return PromptSet(obj, prompts, {p: "edited" for p in prompts}, voc.version)
    sources: dict[str, str] = {}
    for w in defect_words:
        if _clean(w):
            sources.setdefault(_clean(w), "engineer")
    folder = llm_folder(llm)
    if folder is not None:
        for w in llm_words(folder, obj, tags, llm_max_new_tokens, device):
            sources.setdefault(w, "llm")
    for w in vocabulary_prompts(obj, tags, voc):
        sources.setdefault(w, "vocabulary")
    return PromptSet(obj, list(sources), sources, voc.version)
