"""Tiny random Grounding DINO, SAM and causal LM for the IAP-AS tests, in the real formats.

Grounding DINO and the LM are transformers `save_pretrained` folders, SAM a torch-saved
segment-anything state dict; a manifest lists the first two so the engine finds them through
the weights manager (INSPECTOR_MANIFEST / INSPECTOR_MODELS_DIR), as it finds real weights.
The Grounding DINO tokenizer gets its vocabulary as a dict (transformers 5 ignores a
`vocab_file` given to BertTokenizer, which would make every word [UNK]).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from weights_fixtures import (TINY_SAM_DIMS, TINY_SAM_LAYOUT, backdate,  # noqa: F401
                              build_tiny_sam, file_entries, manifest_text)

GDINO_ID = "tiny-gdino-iapas"
SAM_ID = "tiny-sam-iapas"
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "a", "the", "of", "on", "in",
         "with", "scratch", "dent", "crack", "stain", "hole", "rust", "spot", "broken", "missing",
         "part", "bottle", "tile", "metal", "surface", "toy", "hazelnut", "colour", "defect",
         "contamination", "discoloured"]
TEXT_LEN = 32  # the tiny model's caption token limit (the real models: 256)
LM_WORDS = ["<unk>", "<pad>", "<eos>", ",", "scratch", "dent", "crack", "stain", "rust", "spot",
            "hole", "burn", "mark", "list", "visible", "defects", "on", "a", "metal", "bottle",
            "answer", "with", "short", "noun", "phrases", "that", "quality", "inspector", "may",
            "find", "one", "to", "four", "words", "separated", "by", "commas", "no", "sentences",
            "."]


def build_gdino(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import (BertConfig, BertTokenizer, GroundingDinoConfig,
                              GroundingDinoForObjectDetection, GroundingDinoImageProcessor,
                              GroundingDinoProcessor, SwinConfig)

    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})
    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}),
        tokenizer=tokenizer)
    backbone = SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1],
                          num_heads=[1, 1, 2, 2], window_size=4, out_indices=[2, 3, 4],
                          out_features=["stage2", "stage3", "stage4"])
    text = BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1,
                      num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    config = GroundingDinoConfig(
        backbone_config=backbone, text_config=text, d_model=32, encoder_layers=1, decoder_layers=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2,
        decoder_attention_heads=2, num_queries=12, max_text_len=TEXT_LEN, encoder_n_points=1,
        decoder_n_points=1)
    torch.manual_seed(seed)
    GroundingDinoForObjectDetection(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_causal_lm(folder: Path, seed: int = 0) -> Path:
    """A 2-layer Llama with a word-level fast tokenizer over LM_WORDS (save_pretrained)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(LM_WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                        eos_token="<eos>")
    config = LlamaConfig(vocab_size=len(LM_WORDS), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=256, pad_token_id=1, eos_token_id=2, bos_token_id=2)
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


LMM_WORDS = ["<unk>", "<pad>", "<eos>", "<image>", ",", "scratch", "dent", "crack", "stain",
             "hole", "none", "user", "assistant", ":", "what", "is", "wrong", "with", "this"]
LMM_TEMPLATE = ("{% for m in messages %}user : {% for c in m['content'] %}{% if c['type'] == 'image' %}"
                "<image> {% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %} assistant :")


def build_multimodal(folder: Path, seed: int = 3) -> Path:  # seed 3: its answer parses to words
    """A tiny LLaVA (CLIP ViT + 2-layer Llama) with a word-level tokenizer and a chat template,
    saved with save_pretrained: the image-text-to-text layout LLaVA-OneVision also uses."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast)

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(LMM_WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                        eos_token="<eos>", extra_special_tokens={"image_token": "<image>"})
    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                              num_attention_heads=2, image_size=32, patch_size=8, projection_dim=16)
    text = LlamaConfig(vocab_size=len(LMM_WORDS), hidden_size=32, intermediate_size=64,
                       num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                       max_position_embeddings=256, pad_token_id=1, eos_token_id=2, bos_token_id=2)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=3,
                         vision_feature_layer=-1, vision_feature_select_strategy="default")
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer, patch_size=8, num_additional_image_tokens=1,
        vision_feature_select_strategy="default", image_token="<image>", chat_template=LMM_TEMPLATE)
    torch.manual_seed(seed)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@dataclass
class IapasModels:
    manifest: Path
    models_dir: Path
    gdino: Path
    sam: Path
    llm: Path


def build_iapas_models(root: Path) -> IapasModels:
    models = root / "models"
    gdino = build_gdino(models / GDINO_ID)
    sam = build_tiny_sam(models / SAM_ID / "sam_tiny_0001.pth")
    llm = build_causal_lm(root / "llm", seed=1)  # seed 1: its greedy answer parses to words
    entries = [
        {"id": GDINO_ID, "title": "Tiny Grounding DINO", "kind": "transformers_folder",
         "engines": ["iapas"], "licence": "test", "source": {"hf_repo": "test-org/tiny-gdino-iapas"},
         "files": file_entries(gdino), "layout": {"model_type": "grounding-dino", "backbone_embed_dim": 8}},
        {"id": SAM_ID, "title": "Tiny SAM", "kind": "sam_checkpoint", "engines": ["iapas"],
         "licence": "test", "files": [{"name": sam.name, "size": sam.stat().st_size,
                                          "url": "http://127.0.0.1:9/sam_tiny_0001.pth"}],
         "layout": TINY_SAM_LAYOUT, "options": {"dims": TINY_SAM_DIMS}},
    ]
    manifest = root / "manifest.toml"
    manifest.write_text(manifest_text(entries), encoding="utf-8")
    backdate(root)
    return IapasModels(manifest, models, gdino, sam, llm)
