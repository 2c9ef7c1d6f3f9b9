"""Describe-then-segment (seed 003, AG-VAS's inference mode), optional and off by default.

A local multimodal model (LLaVA / LLaVA-OneVision class, through transformers) looks at each
image and names what is wrong in a few words; those words become that image's prompts.
Greedy decoding, so the same image gets the same words. It runs per image while inspecting
(slower), which is why it is a setting the engineer turns on, not the default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from ...core.errors import InspectorError
from .prompts import parse_llm_words

DESCRIBE_FOLDER = "describe-lmm"  # `<models folder>/describe-lmm` unless describe_model says


def describe_question(object_name: str) -> str:
    return (f"What is wrong with this {object_name or 'object'}? Name each visible defect in one "
            "to four words, separated by commas. Answer none if it looks fine.")


def describe_folder(setting: str) -> Path:
    """The multimodal model folder: `describe_model` (path or name in the models folder), else
    `<models folder>/describe-lmm`. Raises with the fix when it is not there."""
    from ...weights.locations import models_dir

    p = Path(setting).expanduser() if setting else models_dir() / DESCRIBE_FOLDER
    folder = p if not setting or p.is_absolute() or p.exists() else models_dir() / setting
    if not (folder / "config.json").is_file():
        raise InspectorError(f"IAP-AS describe is on, but {folder} is not a multimodal model folder "
                             "(no config.json): put a LLaVA-class model there with save_pretrained, "
                             "set describe_model, or set describe to off")
    return folder


class Describer:
    """A loaded image-text-to-text model that names the defects it sees."""

    def __init__(self, model: Any, processor: Any, max_new_tokens: int = 32) -> None:
        self.model = model
        self.processor = processor
        self.max_new_tokens = max_new_tokens

    def _text(self, question: str) -> str:
        if getattr(self.processor, "chat_template", None):
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
            return self.processor.apply_chat_template(messages, add_generation_prompt=True)
        token = getattr(self.processor, "image_token", "<image>")
        return f"USER: {token}\n{question} ASSISTANT:"

    def describe(self, image: np.ndarray, object_name: str) -> list[str]:
        """Short defect phrases for this image ([] when the model says none)."""
        import torch

        inputs = self.processor(images=[image], text=[self._text(describe_question(object_name))],
                                return_tensors="pt").to(self.model.device)
        tok = getattr(self.processor, "tokenizer", self.processor)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.no_grad():
            out = self.model.generate(**inputs, do_sample=False, num_beams=1,
                                      max_new_tokens=self.max_new_tokens, pad_token_id=pad)
        answer = self.processor.batch_decode(out[:, inputs["input_ids"].shape[1]:],
                                             skip_special_tokens=True)[0]
        return [w for w in parse_llm_words(answer, object_name) if w not in ("none", "nothing")]


def load_describer(setting: str, device: str = "cpu", max_new_tokens: int = 32) -> Describer:
    from ...weights.loaders import load_multimodal

    model, processor = load_multimodal(describe_folder(setting), device)
    return Describer(model, processor, max_new_tokens)
