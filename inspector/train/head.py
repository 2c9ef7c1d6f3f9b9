"""The refinement head: weighs the standalone engine's nearest-neighbour evidence for one product.

Input (see `train.data.head_input`): on the engine's patch grid, channel 0 the standalone map,
then the evidence behind it (`StandaloneModel.evidence`: anomaly, local distance, distance per
feature group and per feature channel), each in units of the product's good images, and last the
engine's image score (a constant channel). The head has little capacity on purpose: a 1x1 mix of
the evidence (which channels are noise on this surface), one 5x5 layer (a defect's shape against
an edge or a border), a bounded correction on top of the engine's map, and an image score pooled
from the corrected map (max, top-k means, area above a level) on top of the engine's score. It
learns how to weigh evidence, not what rule defects look like. Zero-initialised outputs: the
untrained head ranks pixels and images exactly like the standalone engine. Any grid size.
"""

from __future__ import annotations

from typing import Any

HEAD_VERSION = 2
CORRECTION = 3.0  # the most (in logits) the head may move a pixel
POOLED = 7  # image-score statistics of the corrected map
BORDER_CELLS = 2.0  # decay of the border channel, grid cells (busy surfaces light up at the crop's edge)


def build_head(n_in: int, width: int = 8) -> Any:
    """n_in: input channels (map + evidence + score); width: hidden channels."""
    import torch
    from torch import nn

    class EvidenceHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mix = nn.Conv2d(n_in, width, 1)  # map + evidence + border position
            self.spatial = nn.Conv2d(width, width, 5, padding=2, padding_mode="replicate")
            self.out = nn.Conv2d(2 * width, 1, 1)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
            self.map_gain = nn.Parameter(torch.tensor(3.0))  # log1p(map) = log 2 at the map's 99.9 % of good
            self.map_bias = nn.Parameter(torch.tensor(-4.0))
            self.pool = nn.Linear(POOLED, 1)
            nn.init.zeros_(self.pool.weight)  # untrained: image score = the engine's, same transform
            nn.init.zeros_(self.pool.bias)

        def forward(self, x):
            maps, score = x[:, :-1], x[:, -1].flatten(1).amax(1)
            n, _, h, w = maps.shape
            ys = torch.arange(h, device=x.device, dtype=x.dtype)
            xs = torch.arange(w, device=x.device, dtype=x.dtype)
            dist = torch.minimum(torch.minimum(ys, h - 1 - ys)[:, None], torch.minimum(xs, w - 1 - xs)[None])
            border = torch.exp(-dist / BORDER_CELLS)[None, None].expand(n, 1, h, w)
            h1 = torch.relu(self.mix(torch.cat([maps, border], 1)))
            h2 = torch.relu(self.spatial(h1))
            base = self.map_gain * maps[:, 0] + self.map_bias
            pixel = base + CORRECTION * torch.tanh(self.out(torch.cat([h1, h2], 1))[:, 0])
            flat = pixel.flatten(1)
            top = flat.max(1).values
            k1, k5 = max(1, flat.shape[1] // 100), max(1, flat.shape[1] // 20)
            stats = torch.stack([
                flat.topk(k1, 1).values.mean(1) - top, flat.topk(k5, 1).values.mean(1) - top,
                flat.mean(1) - top, top - base.flatten(1).max(1).values,
                torch.log(torch.sigmoid(flat).mean(1) + 1e-4), torch.log(torch.sigmoid(flat - 2).mean(1) + 1e-4),
                (torch.sigmoid(flat) * border.flatten(1)).sum(1) / (torch.sigmoid(flat).sum(1) + 1e-4)], 1)
            image = self.map_gain * score + self.map_bias + self.pool(stats)[:, 0]
            return image, pixel

    return EvidenceHead()
