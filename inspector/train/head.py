"""The refinement head: a small U-Net on (image, standalone map) -> defect logits + image logit.

DRAEM's discriminative half, made small enough to train from scratch on a CPU. The pixel
output starts as a scaled copy of the standalone map (a learned residual on top of it), so an
untrained head already ranks pixels like the engine it refines. Fully convolutional: any size
whose sides are multiples of 8.
"""

from __future__ import annotations

from typing import Any

HEAD_VERSION = 1
CORRECTION = 3.0  # the most (in logits) the head may move a pixel or the image score


def build_head(width: int = 16) -> Any:
    import torch
    from torch import nn

    def block(cin: int, cout: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
                             nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True))

    class RefineHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = width
            self.enc1, self.enc2, self.enc3 = block(4, w), block(w, 2 * w), block(2 * w, 4 * w)
            self.bott = block(4 * w, 4 * w)
            self.dec3, self.dec2, self.dec1 = block(8 * w, 2 * w), block(4 * w, w), block(2 * w, w)
            self.out = nn.Conv2d(w, 1, 1)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
            self.map_gain = nn.Parameter(torch.tensor(3.0))  # log1p(map) = log 2 at the pixel threshold
            self.map_bias = nn.Parameter(torch.tensor(-4.0))
            self.image = nn.Sequential(nn.Linear(3 + 8 * w, 32), nn.ReLU(inplace=True), nn.Linear(32, 1))
            nn.init.zeros_(self.image[2].weight)  # untrained: image score = top-1 % mean of the map
            nn.init.zeros_(self.image[2].bias)

        def forward(self, x):
            import torch.nn.functional as F

            e1 = self.enc1(x)
            e2 = self.enc2(F.max_pool2d(e1, 2))
            e3 = self.enc3(F.max_pool2d(e2, 2))
            b = self.bott(F.max_pool2d(e3, 2))
            d3 = self.dec3(torch.cat([F.interpolate(b, size=e3.shape[-2:]), e3], 1))
            d2 = self.dec2(torch.cat([F.interpolate(d3, size=e2.shape[-2:]), e2], 1))
            d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:]), e1], 1))
            # bounded corrections: the head adjusts the engine's map, it cannot drown it
            pixel = CORRECTION * torch.tanh(self.out(d1)[:, 0]) + self.map_gain * x[:, 3] + self.map_bias
            flat = pixel.flatten(1)
            k = max(1, flat.shape[1] // 100)
            stats = torch.stack([flat.max(1).values, flat.topk(k, 1).values.mean(1),
                                 x[:, 3].flatten(1).max(1).values], 1)
            pooled = torch.cat([b.mean((2, 3)), b.amax((2, 3))], 1)
            image = CORRECTION * torch.tanh(self.image(torch.cat([stats, pooled], 1))[:, 0]) \
                + flat.topk(k, 1).values.mean(1)
            return image, pixel

    return RefineHead()
