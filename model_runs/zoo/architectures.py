"""CORnet-RT and BagNet-33, written here from their papers, with the module names of the authors'
published weight files (so that those files load with no key renamed).

CORnet-RT (Kubilius et al. 2018, "CORnet: modeling the core object recognition pathway"): four
recurrent areas V1, V2, V4, IT, each a strided input convolution + GroupNorm + ReLU followed by a
3x3 convolution + GroupNorm + ReLU applied to (input + previous state); unrolled for 5 time steps,
at step 0 only V1 receives the image and every higher area receives zeros; the decoder reads IT.

BagNet-33 (Brendel & Bethge 2019, "Approximating CNNs with bag-of-local-features models"): a
ResNet-50 whose 3x3 convolutions are unpadded and only the first of each stage is 3x3 (the rest
1x1), so that each output position sees a 33 x 33 pixel patch; class evidence is averaged over
all positions.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn


class Flatten(nn.Module):
    """(N, C, 1, 1) -> (N, C); a module so that the decoder's key names match the published file."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class CORblockRT(nn.Module):
    """One recurrent area: conv_input/norm_input on the feed-forward input, conv1/norm1 on input + state."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.stride = stride
        self.conv_input = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)
        self.norm_input = nn.GroupNorm(32, out_channels)
        self.nonlin_input = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(32, out_channels)
        self.nonlin1 = nn.ReLU(inplace=True)

    def forward(self, inp: torch.Tensor | None, state: torch.Tensor | None, shape: tuple[int, int, int]) -> torch.Tensor:
        """The area's output (= its new state); `inp` None means no input yet (zeros of `shape`)."""
        if inp is None:
            drive = torch.zeros((shape[0], self.out_channels, shape[1], shape[2]), device=self.conv1.weight.device,
                                dtype=self.conv1.weight.dtype)
        else:
            drive = self.nonlin_input(self.norm_input(self.conv_input(inp)))
        skip = drive if state is None else drive + state
        return self.nonlin1(self.norm1(self.conv1(skip)))


class CORnetRT(nn.Module):
    """CORnet-RT: V1 (7x7 stride 4, 64), V2 (128), V4 (256), IT (512), each stride 2; 5 time steps."""

    AREAS = ("V1", "V2", "V4", "IT")

    def __init__(self, num_classes: int = 1000, times: int = 5) -> None:
        super().__init__()
        self.times = times
        self.V1 = CORblockRT(3, 64, kernel_size=7, stride=4)
        self.V2 = CORblockRT(64, 128, stride=2)
        self.V4 = CORblockRT(128, 256, stride=2)
        self.IT = CORblockRT(256, 512, stride=2)
        self.decoder = nn.Sequential(OrderedDict([
            ("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", Flatten()), ("linear", nn.Linear(512, num_classes)),
        ]))

    def _shapes(self, x: torch.Tensor) -> dict[str, tuple[int, int, int]]:
        """(batch, height, width) of each area's output for an input image batch."""
        n, _, h, w = x.shape
        out: dict[str, tuple[int, int, int]] = {}
        for name in self.AREAS:
            conv = getattr(self, name).conv_input
            k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            out[name] = (n, h, w)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shapes = self._shapes(x)
        states: dict[str, torch.Tensor | None] = {name: None for name in self.AREAS}
        outputs: dict[str, torch.Tensor | None] = {"inp": x, **{name: None for name in self.AREAS}}
        below = ("inp",) + self.AREAS[:-1]
        for t in range(self.times):
            new: dict[str, torch.Tensor | None] = {"inp": x}
            for name, prev in zip(self.AREAS, below):
                inp = outputs[prev] if (t > 0 or name == "V1") else None
                states[name] = getattr(self, name)(inp, states[name], shapes[name])
                new[name] = states[name]
            outputs = new
        return self.decoder(outputs["IT"])


class BagNetBottleneck(nn.Module):
    """ResNet bottleneck with an unpadded middle convolution; the residual is cropped to fit."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, kernel_size: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size, stride=stride, padding=0, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        diff = residual.shape[-1] - out.shape[-1]
        if diff:
            residual = residual[:, :, :-diff, :-diff]
        return self.relu(out + residual)


class BagNet(nn.Module):
    """BagNet: 1x1 then unpadded 3x3 stem, four bottleneck stages, class logits averaged over positions."""

    def __init__(self, layers: tuple[int, ...] = (3, 4, 6, 3), strides: tuple[int, ...] = (2, 2, 2, 1),
                 kernel3: tuple[int, ...] = (1, 1, 1, 1), num_classes: int = 1000) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 1, bias=False)
        self.conv2 = nn.Conv2d(64, 64, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=0.001)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._stage(64, layers[0], strides[0], kernel3[0])
        self.layer2 = self._stage(128, layers[1], strides[1], kernel3[1])
        self.layer3 = self._stage(256, layers[2], strides[2], kernel3[2])
        self.layer4 = self._stage(512, layers[3], strides[3], kernel3[3])
        self.fc = nn.Linear(512 * 4, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, (2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)) ** 0.5)

    def _stage(self, planes: int, blocks: int, stride: int, kernel3: int) -> nn.Sequential:
        """A stage whose first `kernel3` blocks have a 3x3 middle convolution, the others 1x1."""
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False), nn.BatchNorm2d(planes * 4))
        layers: list[nn.Module] = [BagNetBottleneck(self.inplanes, planes, stride, downsample, 3 if kernel3 > 0 else 1)]
        self.inplanes = planes * 4
        layers += [BagNetBottleneck(self.inplanes, planes, kernel_size=3 if kernel3 > i else 1) for i in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv2(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean(dim=(2, 3)))


def cornet_rt(num_classes: int = 1000, times: int = 5, **_: Any) -> CORnetRT:
    """CORnet-RT with `times` recurrent steps (the published model: 5)."""
    return CORnetRT(num_classes=num_classes, times=times)


def bagnet33(num_classes: int = 1000, **_: Any) -> BagNet:
    """BagNet-33: receptive field 33 x 33 pixels (kernel3 = 1 in every stage)."""
    return BagNet(num_classes=num_classes)
