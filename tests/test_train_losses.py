"""The training objective against values worked out by hand."""

import math

import pytest

torch = pytest.importorskip("torch")

from inspector.train.losses import adapted_dice_loss, bce_loss, focal_loss, total_loss


def test_focal_by_hand():
    # p = sigmoid(0) = 0.5 for a positive: alpha·(1-p)^2·(-ln p) = 0.25·0.25·ln 2
    # logit ln 3 (p = 0.75) for a negative: (1-alpha)·p^2·(-ln(1-p)) = 0.75·0.5625·ln 4
    got = focal_loss(torch.tensor([0.0, math.log(3)]), torch.tensor([1.0, 0.0]))
    want = (0.25 * 0.25 * math.log(2) + 0.75 * 0.5625 * math.log(4)) / 2
    assert got.item() == pytest.approx(want, rel=1e-6)


def test_focal_gamma_zero_is_weighted_bce():
    got = focal_loss(torch.tensor([0.0]), torch.tensor([1.0]), alpha=0.5, gamma=0.0)
    assert got.item() == pytest.approx(0.5 * math.log(2), rel=1e-6)


def test_bce_by_hand():
    got = bce_loss(torch.tensor([[0.0, math.log(3)]]), torch.tensor([[1.0, 1.0]]))
    assert got.item() == pytest.approx((math.log(2) + math.log(4 / 3)) / 2, rel=1e-6)


@pytest.mark.parametrize("beta", [0.1, 0.5, 1.0, 2.0])
def test_adapted_dice_by_hand(beta):
    # y = [1, 1, 0, 0], p = [0.5, 1, 0.5, 0]: Σyp = 1.5, Σy = 2, Σp = 2
    # Dice = (3 + 1)/(2 + 2 + 1) = 0.8;  L = 1 - 0.8/(0.8 + beta)
    probs = torch.tensor([[0.5, 1.0, 0.5, 0.0]])
    y = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    assert adapted_dice_loss(probs, y, beta).item() == pytest.approx(1 - 0.8 / (0.8 + beta), rel=1e-6)


@pytest.mark.parametrize("beta", [0.25, 1.0, 3.0])
def test_adapted_dice_good_image_and_batch_mean(beta):
    # image 1 good (y = 0), p sums to 1: Dice = 1/(0 + 1 + 1) = 0.5
    # image 2 perfect on 1 pixel: Dice = (2 + 1)/(1 + 1 + 1) = 1
    probs = torch.tensor([[[0.5, 0.5]], [[1.0, 0.0]]])
    y = torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]]])
    want = ((1 - 0.5 / (0.5 + beta)) + (1 - 1 / (1 + beta))) / 2
    assert adapted_dice_loss(probs, y, beta).item() == pytest.approx(want, rel=1e-6)


def test_smaller_beta_lowers_the_loss_of_an_imprecise_overlap():
    probs = torch.tensor([[0.9, 0.9, 0.9, 0.1]])  # over-predicts the true single pixel
    y = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    assert adapted_dice_loss(probs, y, 0.2) < adapted_dice_loss(probs, y, 1.0)


def test_total_is_focal_plus_omega_pixel_terms():
    img_logits, img_y = torch.tensor([0.0]), torch.tensor([1.0])
    pix_logits, pix_y = torch.zeros(1, 2, 2), torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    out = total_loss(img_logits, img_y, pix_logits, pix_y, omega=6.0, beta=1.0)
    # pixels: p = 0.5 each; BCE = ln 2; Dice = (1 + 1)/(1 + 2 + 1) = 0.5, L_Dice = 1 - 0.5/1.5
    focal = 0.25 * 0.25 * math.log(2)
    want = focal + 6.0 * (math.log(2) + 1 - 0.5 / 1.5)
    assert out["loss"].item() == pytest.approx(want, rel=1e-6)
    assert out["dice"].item() == pytest.approx(1 - 1 / 3, rel=1e-6)
