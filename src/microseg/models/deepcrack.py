"""DeepCrack (Zou et al., IEEE Trans. Image Process. 28, 1498, 2019; seed 001, section 2.3).

A SegNet-like encoder–decoder: the encoder is the 13 convolutions of VGG16 in five
stages, each followed by 2×2 max pooling that remembers its indices; the decoder mirrors
it, max-unpooling with those indices and convolving back down (512-512-512 |
512-512-256 | 256-256-128 | 128-64 | 64-64). At each of the five scales the last
encoder and decoder features are concatenated and reduced to a side output ("skip-layer
fusion"); the five side outputs, upsampled to the input size, are fused by a
convolution into the final prediction. With ``width=1`` the network has about 30.9 M
parameters, as reported in seed 001.

The layer sizes follow the authors' PyTorch code (github.com/qinnzou/DeepCrack): a side
branch is ``concat → 3×3 conv to 64 channels + ReLU → 3×3 conv to the classes``, and the
fusion is a 3×3 convolution over the five side outputs.

Deviations (and why):

- The side branch's 64-channel convolution runs at the side's own scale and its output
  is then upsampled bilinearly; the authors' code upsamples the concatenated
  (up to 1024-channel) features first. Same parameters, far less memory and time.
- ``batch_norm=True`` by default (SegNet's batch norm after every convolution of the
  encoder and decoder); the authors' code has none. ``batch_norm=False`` restores it.
- Logits, not sigmoids; inputs padded to a multiple of 32; ``width`` scales every channel.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from microseg.models._base import ConvReLU, SegmentationModel, check_width, scaled, upsample_to
from microseg.models.fcn import VGG16_STAGES

__all__ = ["DeepCrack"]


class DeepCrack(SegmentationModel):
    """DeepCrack: SegNet encoder–decoder with five fused side outputs.

    Parameters
    ----------
    in_channels, classes : int
        Input channels and output classes.
    width : float
        Channel multiplier (1.0 = the paper's VGG16/SegNet sizes).
    batch_norm : bool
        Batch norm after every encoder/decoder convolution (see the module docstring).

    Examples
    --------
    >>> import torch
    >>> model = DeepCrack(width=0.125).eval()
    >>> model(torch.zeros(1, 1, 37, 53)).shape
    torch.Size([1, 1, 37, 53])
    """

    arch = "deepcrack"
    description = "DeepCrack (Zou et al. 2019): SegNet encoder-decoder, 5 fused side outputs"

    def __init__(self, *, in_channels: int = 1, classes: int = 1, width: float = 1.0,
                 batch_norm: bool = True) -> None:
        width = check_width(width)
        super().__init__(in_channels=in_channels, classes=classes, width=width,
                         batch_norm=bool(batch_norm))
        self.side_outputs = True
        self.pad_multiple = 32
        chans = [scaled(c, width) for c, _ in VGG16_STAGES]
        side = scaled(64, width)
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        self.side = nn.ModuleList()
        cin = in_channels
        for k, (c, (_, n)) in enumerate(zip(chans, VGG16_STAGES)):
            self.down.append(nn.Sequential(
                *[ConvReLU(cin if i == 0 else c, c, batch_norm=batch_norm) for i in range(n)]))
            cout = chans[k - 1] if k > 0 else c
            self.up.append(nn.Sequential(
                *[ConvReLU(c, c if i < n - 1 else cout, batch_norm=batch_norm) for i in range(n)]))
            self.side.append(nn.ModuleDict({
                "reduce": ConvReLU(c + cout, side, batch_norm=False),
                "score": nn.Conv2d(side, classes, 3, padding=1),
            }))
            cin = c
        self.final = nn.Conv2d(5 * classes, classes, 3, padding=1)

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        size = x.shape[-2:]
        skips, indices = [], []
        out = x
        for block in self.down:
            out = block(out)
            skips.append(out)
            out, idx = F.max_pool2d(out, 2, 2, return_indices=True)
            indices.append(idx)
        ups: list[torch.Tensor] = [out] * 5
        for k in range(4, -1, -1):
            out = F.max_unpool2d(out, indices[k], 2, 2, output_size=skips[k].shape[-2:])
            out = self.up[k](out)
            ups[k] = out
        sides = []
        for k in range(5):
            feat = self.side[k]["reduce"](torch.cat([skips[k], ups[k]], dim=1))
            sides.append(self.side[k]["score"](upsample_to(feat, size)))
        return [*sides, self.final(torch.cat(sides, dim=1))]
