# segment-anything (no hook upstream): plain Python modules; collected whole so the predictor,
# the automatic mask generator and the ONNX-free utilities are all there.
from PyInstaller.utils.hooks import collect_submodules, copy_metadata

hiddenimports = collect_submodules("segment_anything", filter=lambda name: ".utils.onnx" not in name)
datas = copy_metadata("segment-anything")
