"""Backward warping: pixel-centre convention and border padding (flow inversion: tests/decoder/test_warp_decoder.py)."""

import torch

from dynamics_codec.warping import backward_warp


def test_backward_warp_uses_pixel_centres() -> None:
    image = torch.arange(5 * 6, dtype=torch.float32).view(1, 1, 5, 6)
    flow = torch.zeros(1, 2, 5, 6)
    torch.testing.assert_close(backward_warp(image, flow), image, atol=1e-5, rtol=0)
    flow[:, 0] = 0.5  # halfway to the right neighbour
    shifted = backward_warp(image, flow)
    torch.testing.assert_close(shifted[..., :-1], image[..., :-1] + 0.5, atol=1e-5, rtol=0)
    torch.testing.assert_close(shifted[..., -1], image[..., -1], atol=1e-5, rtol=0)  # border padding
