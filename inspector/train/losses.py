"""The training objective of seed 001 (section 4.2, eq. 6-7): image focal loss plus
ω·(pixel BCE + adapted Dice). Soft pixel targets (0..1) are accepted everywhere."""

from __future__ import annotations

OMEGA = 6.0  # weight of the pixel terms (seed 001: 6.0 in all experiments)
BETA = 1.0  # adapted-Dice scaling factor; smaller tolerates imprecise (coarse) masks more


def focal_loss(logits, targets, alpha: float = 0.25, gamma: float = 2.0):
    """Image-level focal loss (Lin et al.), mean over the batch; torchvision's implementation."""
    from torchvision.ops import sigmoid_focal_loss

    return sigmoid_focal_loss(logits, targets.to(logits.dtype), alpha=alpha, gamma=gamma, reduction="mean")


def bce_loss(logits, targets):
    """Pixel-level binary cross-entropy on logits, mean over all pixels."""
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))


def adapted_dice_loss(probs, targets, beta: float = BETA):
    """Per image: Dice = (2·Σyŷ + 1)/(Σy + Σŷ + 1), L = 1 − Dice/(Dice + β); batch mean."""
    dims = tuple(range(1, probs.ndim))
    y = targets.to(probs.dtype)
    dice = (2 * (y * probs).sum(dims) + 1) / (y.sum(dims) + probs.sum(dims) + 1)
    return (1 - dice / (dice + beta)).mean()


def total_loss(image_logits, image_targets, pixel_logits, pixel_targets, omega: float = OMEGA,
               beta: float = BETA, alpha: float = 0.25, gamma: float = 2.0) -> dict:
    """L = L_focal + ω(L_BCE + L_Dice); returns every term (tensors) under its name."""
    import torch

    focal = focal_loss(image_logits, image_targets, alpha, gamma)
    bce = bce_loss(pixel_logits, pixel_targets)
    dice = adapted_dice_loss(torch.sigmoid(pixel_logits.float()), pixel_targets, beta)
    return {"loss": focal + omega * (bce + dice), "focal": focal, "bce": bce, "dice": dice}
