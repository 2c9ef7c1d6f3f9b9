"""Prompt embeddings with the CLIP text tower, cut to the prompts' real length.

CLIP's text tower is causal and pools at the end token, so the 60-odd padding positions of
a 77-token context change nothing: encoding only up to the longest prompt gives the same
embeddings 4-6x faster (prompt ensembles run to hundreds of prompts). The shortcut checks
itself against `model.encode_text` on the first prompt and is skipped if they differ.
"""

from __future__ import annotations

from typing import Any, Sequence


def _encode_short(model: Any, tokens: Any) -> Any:
    """model.encode_text(tokens) computed on tokens[:, :n], n = longest prompt (pad id 0)."""
    from open_clip.transformer import text_global_pool

    n = int((tokens != 0).sum(1).max())
    t = tokens[:, :n]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(t).to(cast) + model.positional_embedding[:n].to(cast)
    x = model.transformer(x, attn_mask=model.attn_mask[:n, :n])
    x = text_global_pool(model.ln_final(x), t, model.text_pool_type,
                         eos_token_id=getattr(model, "text_eos_id", None))
    proj = model.text_projection
    if proj is None:
        return x
    return proj(x) if hasattr(proj, "weight") else x @ proj


def _shortcut_works(model: Any, tokens: Any) -> bool:
    import torch.nn.functional as F

    if getattr(model, "attn_mask", None) is None or getattr(model, "text_pool_type", "") != "argmax":
        return False
    try:
        short = F.normalize(_encode_short(model, tokens[:1]).float(), dim=-1)
    except (AttributeError, TypeError, RuntimeError):  # another open_clip text tower layout
        return False
    full = F.normalize(model.encode_text(tokens[:1]).float(), dim=-1)
    return float((short * full).sum()) > 0.9999


def encode_prompts(model: Any, tokenizer: Any, prompts: Sequence[str], device: Any,
                   batch: int = 64) -> Any:
    """L2-normalised embeddings (N, C) float32 of `prompts` (no gradients; the text tower is frozen)."""
    import torch
    import torch.nn.functional as F

    out, short = [], None
    with torch.no_grad():
        for i in range(0, len(prompts), batch):
            tokens = tokenizer(list(prompts[i:i + batch])).to(device)
            if short is None:
                short = _shortcut_works(model, tokens)
            emb = _encode_short(model, tokens) if short else model.encode_text(tokens)
            out.append(F.normalize(emb.float(), dim=-1))
    return torch.cat(out)
