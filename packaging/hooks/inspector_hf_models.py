"""Which transformers model families and diffusers pipelines the bundle carries.

Both libraries import their submodules lazily (by name, at run time), which PyInstaller's
analysis cannot see; collecting all of them would add thousands of modules. These are the
ones Inspector's engines build: CLIP (text encoder of Stable Diffusion), BERT + Swin +
Grounding DINO (zero-shot detection), and common causal LMs for prompt expansion.
Add a family here when an engine starts using it.
"""

TRANSFORMERS_MODELS = {
    "auto", "bert", "clip", "grounding_dino", "swin", "siglip", "dinov2", "vit",
    "gpt2", "llama", "qwen2", "qwen3", "mistral", "phi", "phi3", "gemma", "gemma2", "smollm3",
    "t5", "encoder_decoder",
}
DIFFUSERS_PIPELINES = {"stable_diffusion", "auto_pipeline", "pipeline_utils", "pipeline_loading_utils",
                       "free_init_utils", "free_noise_utils", "stable_diffusion_xl", "controlnet"}
SKIP = (".tests", ".testing_utils", ".commands", "_flax", ".flax", "_tf", "_onnx", ".onnx_utils",
        "convert_", ".benchmark")


def keep_transformers(name: str) -> bool:
    if any(s in name for s in SKIP):
        return False
    parts = name.split(".")
    return not (len(parts) >= 3 and parts[1] == "models" and parts[2] not in TRANSFORMERS_MODELS)


def keep_diffusers(name: str) -> bool:
    if any(s in name for s in SKIP):
        return False
    parts = name.split(".")
    return not (len(parts) >= 3 and parts[1] == "pipelines" and parts[2] not in DIFFUSERS_PIPELINES)
