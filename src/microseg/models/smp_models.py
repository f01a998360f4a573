"""U-Net and UNet++ on the encoders of segmentation_models_pytorch (smp).

U-Net (Ronneberger et al. 2015; seeds 001 and 004) and UNet++ (Zhou et al. 2018; seed
000, with ImageNet or MicroNet encoders) are smp's ``Unet`` and ``UnetPlusPlus`` with
``encoder_weights=None`` always: nothing is downloaded. Pretrained encoder weights
(ImageNet, MicroNet) come from a local file through
:func:`microseg.models.load_encoder_weights`.

UNet++ deep supervision (``deep_supervision=True``): in the paper the side outputs are
1×1 convolutions on the nested top-row nodes X0,1 … X0,4. In smp's decoder those nodes
are ``x_k_{d-2}`` (k = d-2 … 0, at stride 2 for ResNet encoders, where d is the encoder
depth); smp then adds one more up-block to full resolution and a 3×3 segmentation head,
which gives the final output here too (from X0,d-1 = ``x_0_{d-2}``). The side heads
are 1×1 convolutions on X0,1 … X0,d-2 (``x_{d-2}_{d-2}`` … ``x_1_{d-2}``), upsampled
bilinearly to the input size: with the default depth 5, side outputs on X0,1, X0,2,
X0,3 and the final output from X0,4, as in the paper. Training mode returns
``[side_1, …, side_{d-2}, final]``; evaluation mode only
``final``, which equals smp's own ``UnetPlusPlus`` output (the nested decoder is run by
:func:`_nested_nodes`, a copy of smp 0.6's decoder loop that keeps every node).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from microseg._util import InputError, look_up_option
from microseg.models._base import SegmentationModel, upsample_to

__all__ = ["UNet", "UNetPlusPlus"]

_DEFAULT_DECODER = (256, 128, 64, 32, 16)


def _encoder_names() -> list[str]:
    import segmentation_models_pytorch as smp

    return sorted(smp.encoders.get_encoder_names())


def _check_smp_options(encoder: str, encoder_depth: int,
                       decoder_channels: Sequence[int] | None) -> tuple[str, int, list[int]]:
    if not isinstance(encoder, str):
        raise InputError(f"encoder must be a name such as 'resnet34', got {encoder!r}")
    if not encoder.startswith("tu-"):
        encoder = look_up_option(encoder, _encoder_names(), what="encoder")
    if isinstance(encoder_depth, bool) or encoder_depth not in (3, 4, 5):
        raise InputError(f"encoder_depth must be 3, 4 or 5, got {encoder_depth!r}")
    if decoder_channels is None:
        decoder_channels = _DEFAULT_DECODER[:encoder_depth]
    channels = [int(c) for c in decoder_channels]
    if len(channels) != encoder_depth or min(channels) < 1:
        raise InputError(
            f"decoder_channels must be {encoder_depth} positive integers (one per encoder "
            f"stage), got {list(decoder_channels)!r}"
        )
    return encoder, encoder_depth, channels


class _SMPModel(SegmentationModel):
    """Common part: holds the smp network as ``self.net`` and exposes its encoder."""

    @property
    def encoder(self) -> nn.Module:
        """The smp encoder: the target of :func:`microseg.models.load_encoder_weights`."""
        return self.net.encoder


class UNet(_SMPModel):
    """U-Net with an smp encoder (ResNet-34 by default), no pretrained weights.

    Parameters
    ----------
    in_channels, classes : int
        Input channels and output classes.
    encoder : str
        smp encoder name (``"resnet18"``, ``"resnet34"``, ``"resnet50"``, ...).
    encoder_depth : int
        Number of encoder stages, 3 to 5; inputs are padded to ``2**encoder_depth``.
        With fewer than 5, smp keeps the unused deeper encoder stages (their
        parameters get no gradient; they let full encoder checkpoints load).
    decoder_channels : sequence of int, optional
        One per stage; default ``(256, 128, 64, 32, 16)`` cut to ``encoder_depth``.

    Examples
    --------
    >>> import torch
    >>> model = UNet(encoder="resnet18", encoder_depth=3).eval()
    >>> model(torch.zeros(1, 1, 37, 53)).shape
    torch.Size([1, 1, 37, 53])
    """

    arch = "unet"
    description = "U-Net (Ronneberger et al. 2015) with an smp encoder (default resnet34)"

    def __init__(self, *, in_channels: int = 1, classes: int = 1, encoder: str = "resnet34",
                 encoder_depth: int = 5, decoder_channels: Sequence[int] | None = None) -> None:
        encoder, encoder_depth, channels = _check_smp_options(encoder, encoder_depth, decoder_channels)
        super().__init__(in_channels=in_channels, classes=classes, encoder=encoder,
                         encoder_depth=encoder_depth, decoder_channels=channels)
        import segmentation_models_pytorch as smp

        self.pad_multiple = 2**encoder_depth
        self.net = smp.Unet(encoder_name=encoder, encoder_depth=encoder_depth, encoder_weights=None,
                            decoder_channels=channels, in_channels=in_channels, classes=classes)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _nested_nodes(decoder: nn.Module, features: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Run smp's UNet++ decoder and return every node ``x_{depth}_{layer}`` (smp 0.6 logic)."""
    features = features[1:][::-1]
    dense: dict[str, torch.Tensor] = {}
    n = decoder.depth
    for layer in range(len(decoder.in_channels) - 1):
        for depth in range(n - layer):
            if layer == 0:
                key = f"x_{depth}_{depth}"
                dense[key] = decoder.blocks[key](features[depth], features[depth + 1])
            else:
                last = depth + layer
                cat = [dense[f"x_{i}_{last}"] for i in range(depth + 1, last + 1)]
                cat = torch.cat(cat + [features[last + 1]], dim=1)
                dense[f"x_{depth}_{last}"] = decoder.blocks[f"x_{depth}_{last}"](
                    dense[f"x_{depth}_{last - 1}"], cat)
    dense[f"x_0_{n}"] = decoder.blocks[f"x_0_{n}"](dense[f"x_0_{n - 1}"])
    return dense


class UNetPlusPlus(_SMPModel):
    """UNet++ with an smp encoder (ResNet-34 by default), optional deep supervision.

    Parameters
    ----------
    in_channels, classes : int
        Input channels and output classes.
    encoder : str
        smp encoder name (``"resnet18"``, ``"resnet34"``, ``"resnet50"``, ...).
    encoder_depth : int
        Number of encoder stages, 3 to 5; inputs are padded to ``2**encoder_depth``.
    decoder_channels : sequence of int, optional
        One per stage; default ``(256, 128, 64, 32, 16)`` cut to ``encoder_depth``.
    deep_supervision : bool
        Add 1×1 side heads on the nested nodes X0,1 … (see the module docstring); the
        model then returns a list in training mode.

    Examples
    --------
    >>> import torch
    >>> model = UNetPlusPlus(encoder="resnet18", encoder_depth=3, deep_supervision=True)
    >>> len(model(torch.zeros(2, 1, 37, 53)))  # X0,1 side output + final
    2
    """

    arch = "unetpp"
    description = "UNet++ (Zhou et al. 2018) with an smp encoder, optional deep supervision"

    def __init__(self, *, in_channels: int = 1, classes: int = 1, encoder: str = "resnet34",
                 encoder_depth: int = 5, decoder_channels: Sequence[int] | None = None,
                 deep_supervision: bool = False) -> None:
        encoder, encoder_depth, channels = _check_smp_options(encoder, encoder_depth, decoder_channels)
        super().__init__(in_channels=in_channels, classes=classes, encoder=encoder,
                         encoder_depth=encoder_depth, decoder_channels=channels,
                         deep_supervision=bool(deep_supervision))
        import segmentation_models_pytorch as smp

        self.pad_multiple = 2**encoder_depth
        self.side_outputs = bool(deep_supervision)
        self.net = smp.UnetPlusPlus(encoder_name=encoder, encoder_depth=encoder_depth,
                                    encoder_weights=None, decoder_channels=channels,
                                    in_channels=in_channels, classes=classes)
        self.side_heads = nn.ModuleList()
        if deep_supervision:
            top = self.net.decoder.depth - 1
            for k in range(top, 0, -1):
                cin = self.net.decoder.blocks[f"x_{k}_{top}"].out_channels
                self.side_heads.append(nn.Conv2d(cin, classes, 1))

    def _forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if not self.side_outputs or not self.training:
            return self.net(x)
        decoder = self.net.decoder
        nodes = _nested_nodes(decoder, self.net.encoder(x))
        top = decoder.depth - 1
        size = x.shape[-2:]
        sides = [upsample_to(head(nodes[f"x_{k}_{top}"]), size)
                 for head, k in zip(self.side_heads, range(top, 0, -1))]
        final = self.net.segmentation_head(nodes[f"x_0_{decoder.depth}"])
        return [*sides, final]

