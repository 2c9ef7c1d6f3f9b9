"""Grounding DINO through transformers: prompts in captions within the token limit, boxes out.

Prompts are joined into captions "scratch. dent. rust spot." that fit the model's text
budget (max_text_len, 256 for the released models); several captions go through one forward
pass with the image repeated. Each box is attributed to the prompt whose tokens score it
highest, so a region is labelled with the words that found it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ...core.errors import InspectorError


@dataclass
class Box:
    """One detector box in image pixels: (x0, y0, x1, y1) floats, confidence, prompt, phrase."""

    xyxy: tuple[float, float, float, float]
    score: float
    prompt: str  # the prompt whose tokens score the box highest
    phrase: str  # the tokens over text_threshold, as the processor decodes them

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.xyxy
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def threshold_kwargs(post_process: Any, box_threshold: float, text_threshold: float) -> dict:
    """transformers renamed `box_threshold` to `threshold` (4.51); pass whichever it takes."""
    params = inspect.signature(post_process).parameters
    name = "threshold" if "threshold" in params else "box_threshold"
    return {name: box_threshold, "text_threshold": text_threshold}


def caption_of(prompts: Sequence[str]) -> str:
    return " ".join(f"{p}." for p in prompts)


def token_count(tokenizer: Any, text: str) -> int:
    """Tokens of `text` with the special tokens ([CLS] ... [SEP])."""
    return len(tokenizer(text).input_ids)


def chunk_prompts(prompts: Sequence[str], tokenizer: Any, budget: int) -> list[list[str]]:
    """Prompts grouped greedily, in order, into captions of at most `budget` tokens.

    A prompt too long for a caption on its own is cut word by word from its end."""
    chunks: list[list[str]] = []
    current: list[str] = []
    for p in prompts:
        while token_count(tokenizer, caption_of([p])) > budget and " " in p:
            p = p.rsplit(" ", 1)[0]
        if token_count(tokenizer, caption_of([p])) > budget:
            raise InspectorError(f"IAP-AS prompt {p!r} does not fit the detector's {budget}-token "
                                 "caption; shorten it")
        if current and token_count(tokenizer, caption_of(current + [p])) > budget:
            chunks.append(current)
            current = []
        current.append(p)
    if current:
        chunks.append(current)
    return chunks


def prompt_token_spans(tokenizer: Any, prompts: Sequence[str]) -> list[tuple[int, int]]:
    """[start, end) token positions of each prompt inside `caption_of(prompts)` (with [CLS])."""
    caption = caption_of(prompts)
    enc = tokenizer(caption, return_offsets_mapping=True) if getattr(tokenizer, "is_fast", False) \
        else None
    spans, pos = [], 0
    char_spans = []
    for p in prompts:
        start = caption.index(p, pos)
        char_spans.append((start, start + len(p)))
        pos = start + len(p)
    if enc is not None and "offset_mapping" in enc:
        offsets = enc["offset_mapping"]
        for a, b in char_spans:
            idx = [i for i, (s, e) in enumerate(offsets) if e > s and a <= s < b]
            spans.append((idx[0], idx[-1] + 1) if idx else (0, 0))
        return spans
    pos = 1  # slow tokenizers: count each piece's tokens ([CLS] first, "." after each prompt)
    for p in prompts:
        n = len(tokenizer(p, add_special_tokens=False).input_ids)
        spans.append((pos, pos + n))
        pos += n + len(tokenizer(".", add_special_tokens=False).input_ids)
    return spans


class GroundingDetector:
    """A loaded GroundingDinoForObjectDetection with its processor; `detect` is batched."""

    def __init__(self, model: Any, processor: Any, box_threshold: float, text_threshold: float,
                 max_text_tokens: int = 0, text_batch: int = 4, autocast: Any = None) -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.box_threshold = float(box_threshold)
        self.text_threshold = float(text_threshold)
        limit = int(getattr(model.config, "max_text_len", 256))
        self.budget = min(max_text_tokens, limit) if max_text_tokens else limit
        self.text_batch = text_batch
        self._autocast = autocast
        self._kwargs = threshold_kwargs(processor.post_process_grounded_object_detection,
                                        self.box_threshold, self.text_threshold)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def detect(self, image: np.ndarray, groups: Sequence[Sequence[str]]) -> list[list[Box]]:
        """Boxes per caption group (each group one caption within the token budget)."""
        import contextlib

        import torch

        h, w = image.shape[:2]
        out: list[list[Box]] = []
        for i in range(0, len(groups), self.text_batch):
            batch = [list(g) for g in groups[i:i + self.text_batch]]
            captions = [caption_of(g) for g in batch]
            inputs = self.processor(images=[image] * len(batch), text=captions, padding="longest",
                                    return_tensors="pt").to(self.device)
            with torch.no_grad(), (self._autocast() if self._autocast else contextlib.nullcontext()):
                outputs = self.model(**inputs)
            outputs.logits = outputs.logits.float()
            outputs.pred_boxes = outputs.pred_boxes.float()
            results = self.processor.post_process_grounded_object_detection(
                outputs, inputs["input_ids"], target_sizes=[(h, w)] * len(batch), **self._kwargs)
            probs = torch.sigmoid(outputs.logits)  # (B, queries, text tokens)
            for b, (group, res) in enumerate(zip(batch, results)):
                out.append(self._boxes(group, res, probs[b], w, h))
        return out

    def _clean_phrase(self, phrase: Any) -> str:
        special = set(getattr(self.tokenizer, "all_special_tokens", []))
        words = [t for t in str(phrase).replace(".", " ").split() if t not in special]
        return " ".join(words)

    def _boxes(self, group: list[str], res: dict, probs: Any, w: int, h: int) -> list[Box]:
        keep = (probs.max(-1).values > self.box_threshold).nonzero().flatten().tolist()
        scores = res["scores"].tolist()
        phrases = list(res["text_labels"] if "text_labels" in res else res.get("labels", [""] * len(scores)))
        if len(keep) != len(scores):  # another post-processing; attribute by phrase instead
            keep = [None] * len(scores)
        spans = prompt_token_spans(self.tokenizer, group)
        boxes = []
        for q, s, xyxy, phrase in zip(keep, scores, res["boxes"].tolist(), phrases):
            prompt = group[0]
            if q is not None:
                per_prompt = [float(probs[q, a:b].max()) if b > a else -1.0 for a, b in spans]
                prompt = group[int(np.argmax(per_prompt))]
            else:
                prompt = next((p for p in group if str(phrase) and str(phrase) in p), group[0])
            x0, y0, x1, y1 = (float(v) for v in xyxy)
            x0, x1 = sorted((min(max(x0, 0.0), w), min(max(x1, 0.0), w)))
            y0, y1 = sorted((min(max(y0, 0.0), h), min(max(y1, 0.0), h)))
            boxes.append(Box((x0, y0, x1, y1), float(s), prompt, self._clean_phrase(phrase)))
        return boxes


def load_detector(model_id: str, device: str, box_threshold: float, text_threshold: float,
                  max_text_tokens: int = 0, text_batch: int = 4, autocast: Optional[Any] = None,
                  folder: Optional[str] = None) -> GroundingDetector:
    """Grounding DINO of manifest id `model_id`, or from an explicit `folder`."""
    from ...weights.loaders import load_grounding_dino, load_grounding_dino_model

    if folder:
        model, processor = load_grounding_dino(folder, device)
    else:
        model, processor = load_grounding_dino_model(model_id, device)
    return GroundingDetector(model, processor, box_threshold, text_threshold, max_text_tokens,
                             text_batch, autocast)
