"""DefectSegNet (Roberts et al., Sci. Rep. 9, 12744, 2019; seed 001, section 2.3).

An encoder–decoder built from DenseNet-style blocks: inside a block every 3×3
convolution (batch norm, ReLU) sees the concatenation of the block input and all
earlier convolution outputs, and the block output is that whole concatenation. The
encoder has three dense blocks of two convolutions (growth 4, 16, 32 channels), each
followed by 2×2 max pooling, batch norm and ReLU; a bridge block (growth 64) at 1/8
resolution; the decoder has transposed 2×2 convolutions (stride 2, to half the growth
channels) and dense blocks (growth 32, 16) whose input is the upsampled features
concatenated with the *whole* encoder dense-block output at the same resolution (skip
connections as in U-Net). At full resolution a last dense step (growth 4) is followed
by a 3×3 convolution to the classes. The network is small (0.35 M parameters).

The layout follows the authors' description (19 hidden layers, dense blocks in encoder
and decoder, same-resolution concatenations) and the public re-implementation it was
checked against (github.com/novice03/DefectSegNet-pytorch).

Deviations: logits instead of a sigmoid; inputs padded to a multiple of 8; ``width``
multiplies every growth rate (1.0 = the paper).
"""
from __future__ import annotations

import torch
from torch import nn

from microseg.models._base import ConvReLU, SegmentationModel, check_width, scaled

__all__ = ["DefectSegNet"]


class _Dense(nn.Module):
    """Dense block: ``n`` convolutions each fed with all features so far; output = all of them."""

    def __init__(self, cin: int, growth: int, n: int = 2) -> None:
        super().__init__()
        self.convs = nn.ModuleList(ConvReLU(cin + i * growth, growth) for i in range(n))
        self.out_channels = cin + n * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs:
            feats.append(conv(torch.cat(feats, dim=1)))
        return torch.cat(feats, dim=1)


class DefectSegNet(SegmentationModel):
    """DefectSegNet: dense blocks in encoder and decoder with same-resolution skips.

    Parameters
    ----------
    in_channels, classes : int
        Input channels and output classes.
    width : float
        Multiplier of the growth rates (4, 16, 32 | 64 | 32, 16 | 4 in the paper).

    Examples
    --------
    >>> import torch
    >>> model = DefectSegNet().eval()
    >>> model(torch.zeros(2, 1, 37, 53)).shape
    torch.Size([2, 1, 37, 53])
    """

    arch = "defectsegnet"
    description = "DefectSegNet (Roberts et al. 2019): dense blocks, encoder-decoder skips"

    def __init__(self, *, in_channels: int = 1, classes: int = 1, width: float = 1.0) -> None:
        width = check_width(width)
        super().__init__(in_channels=in_channels, classes=classes, width=width)
        self.pad_multiple = 8
        g1, g2, g3, g4 = (scaled(g, width) for g in (4, 16, 32, 64))
        self.enc = nn.ModuleList()
        self.pool = nn.ModuleList()
        cin = in_channels
        for g in (g1, g2, g3):
            block = _Dense(cin, g)
            self.enc.append(block)
            cin = block.out_channels
            self.pool.append(nn.Sequential(nn.MaxPool2d(2, 2), nn.BatchNorm2d(cin), nn.ReLU(inplace=True)))
        self.bridge = _Dense(cin, g4)
        self.dec = nn.ModuleList()
        self.up = nn.ModuleList()
        cin, g_prev = self.bridge.out_channels, g4
        for skip, g in zip((self.enc[2], self.enc[1]), (g3, g2)):
            self.up.append(self._up(cin, max(1, g_prev // 2)))
            block = _Dense(max(1, g_prev // 2) + skip.out_channels, g)
            self.dec.append(block)
            cin, g_prev = block.out_channels, g
        self.up.append(self._up(cin, max(1, g_prev // 2)))
        self.last = _Dense(max(1, g_prev // 2) + self.enc[0].out_channels, g1, n=1)
        self.head = nn.Conv2d(self.last.out_channels, classes, 3, padding=1)

    @staticmethod
    def _up(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, stride=2), nn.BatchNorm2d(cout),
                             nn.ReLU(inplace=True))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        out = x
        for block, pool in zip(self.enc, self.pool):
            out = block(out)
            skips.append(out)
            out = pool(out)
        out = self.bridge(out)
        for up, block, skip in zip(self.up, self.dec, (skips[2], skips[1])):
            out = block(torch.cat([up(out), skip], dim=1))
        out = self.last(torch.cat([self.up[2](out), skips[0]], dim=1))
        return self.head(out)
