# open_clip (no hook upstream): its model configs (model_configs/*.json) and the BPE vocabulary
# (bpe_simple_vocab_16e6.txt.gz) are read from the package folder at run time.
from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

datas = collect_data_files("open_clip", includes=["model_configs/*.json", "*.txt.gz", "*.json"])
datas += copy_metadata("open_clip_torch")
hiddenimports = collect_submodules("open_clip")
module_collection_mode = "pyz+py"  # torch.jit in open_clip's text tower reads the sources
