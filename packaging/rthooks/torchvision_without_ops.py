"""CPU bundle runtime hook: let torchvision import although its compiled ops cannot load.

The registry's torchvision 0.28.0 (the release for torch 2.13) is built against CUDA torch,
so in the CPU bundle its `_C` extension is left out. torchvision then still imports everything
Inspector uses (transforms for SAM and open_clip, `sigmoid_focal_loss`), except that its
`_meta_registrations` registers fake kernels for `torchvision::nms` / `qnms` unconditionally,
which fails when the operators were never defined. This hook defines those two schemas
(no kernels) the first time torchvision is imported; calling a compiled op (nms, roi_align,
deform_conv2d) raises torchvision's own "Couldn't load custom C++ ops" error.
Only for the CPU bundle: where `_C` loads, it defines the namespace itself.
"""

import importlib.abc
import sys

_LIBRARY = []  # keeps the torch.library.Library alive: it unregisters its schemas when collected


class _DefineTorchvisionOps(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # noqa: ANN001 - importlib's signature
        if name == "torchvision":
            sys.meta_path.remove(self)
            import torch

            lib = torch.library.Library("torchvision", "DEF")
            lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            _LIBRARY.append(lib)
        return None  # the normal finders import torchvision itself


sys.meta_path.insert(0, _DefineTorchvisionOps())
