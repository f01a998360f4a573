"""A small hand-written U-Net (Ronneberger et al. 2015) that needs nothing beyond torch.

Two 3×3 convolutions (batch norm, ReLU) per level, 2×2 max pooling down, 2×2 transposed
convolutions up, skip connections by concatenation, channels doubling from
``base_channels`` at each of ``depth`` poolings (32 → 512 with the defaults: 7.8 M
parameters). Differences from the paper: same padding (the output has the input size,
no cropping of the skips) and batch norm, as in most re-implementations (seed 004 uses
both).
"""
from __future__ import annotations

import torch
from torch import nn

from microseg._util import InputError
from microseg.models._base import ConvReLU, SegmentationModel

__all__ = ["PlainUNet"]


def _double(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(ConvReLU(cin, cout), ConvReLU(cout, cout))


class PlainUNet(SegmentationModel):
    """Plain U-Net without smp.

    Parameters
    ----------
    in_channels, classes : int
        Input channels and output classes.
    base_channels : int
        Channels of the first level; doubled at every level below.
    depth : int
        Number of poolings (1 to 6); inputs are padded to a multiple of ``2**depth``.

    Examples
    --------
    >>> import torch
    >>> model = PlainUNet(base_channels=4, depth=2).eval()
    >>> model(torch.zeros(1, 1, 37, 53)).shape
    torch.Size([1, 1, 37, 53])
    """

    arch = "unet_plain"
    description = "plain U-Net (Ronneberger et al. 2015) written in torch, no smp"

    def __init__(self, *, in_channels: int = 1, classes: int = 1, base_channels: int = 32,
                 depth: int = 4) -> None:
        if isinstance(depth, bool) or depth not in range(1, 7):
            raise InputError(f"depth must be an integer from 1 to 6, got {depth!r}")
        if isinstance(base_channels, bool) or not isinstance(base_channels, int) or base_channels < 1:
            raise InputError(f"base_channels must be a positive integer, got {base_channels!r}")
        super().__init__(in_channels=in_channels, classes=classes, base_channels=base_channels,
                         depth=depth)
        self.pad_multiple = 2**depth
        chans = [base_channels * 2**k for k in range(depth + 1)]
        self.down = nn.ModuleList()
        cin = in_channels
        for c in chans:
            self.down.append(_double(cin, c))
            cin = c
        self.pool = nn.MaxPool2d(2, 2)
        self.up = nn.ModuleList(nn.ConvTranspose2d(chans[k + 1], chans[k], 2, stride=2)
                                for k in range(depth))
        self.dec = nn.ModuleList(_double(2 * chans[k], chans[k]) for k in range(depth))
        self.head = nn.Conv2d(chans[0], classes, 1)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for k, block in enumerate(self.down):
            x = block(x if k == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for k in range(len(self.up) - 1, -1, -1):
            x = self.dec[k](torch.cat([self.up[k](x), skips[k]], dim=1))
        return self.head(x)
