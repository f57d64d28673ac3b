"""Visual angles from the real window: pixel pitch, pixels per degree, image size in degrees.

The pixel pitch is the monitor's visible width over the screen's real width in pixels: the open
window's width when it runs full screen (a full-screen window is the screen), else the configured
`monitor.resolution_px` (a window cannot tell the screen's physical size, which is why a windowed
session needs an explicit option). A size s cm seen from d cm spans 2 atan(s / 2d).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from experiment.config import MonitorConfig


def angle_deg(size_cm: float, distance_cm: float) -> float:
    """Exact visual angle of `size_cm` centred at `distance_cm`."""
    return math.degrees(2.0 * math.atan(size_cm / (2.0 * distance_cm)))


def size_cm(angle: float, distance_cm: float) -> float:
    """The size that spans `angle` degrees at `distance_cm` (inverse of angle_deg)."""
    return 2.0 * distance_cm * math.tan(math.radians(angle) / 2.0)


@dataclass(frozen=True)
class Geometry:
    """The session's geometry as measured on the open window."""

    window_px: tuple[int, int]
    screen_width_px: int  # the width the monitor's width_cm spans
    pixel_pitch_cm: float
    distance_cm: float
    image_px: tuple[int, int]  # as drawn (native, or scaled to image_size_deg)
    native_image_px: tuple[int, int]

    @property
    def px_per_deg(self) -> float:
        """Pixels spanning one degree at the centre of the screen."""
        return size_cm(1.0, self.distance_cm) / self.pixel_pitch_cm

    @property
    def image_deg(self) -> float:
        return angle_deg(self.image_px[0] * self.pixel_pitch_cm, self.distance_cm)

    @property
    def window_deg(self) -> tuple[float, float]:
        return (angle_deg(self.window_px[0] * self.pixel_pitch_cm, self.distance_cm),
                angle_deg(self.window_px[1] * self.pixel_pitch_cm, self.distance_cm))

    def as_sidecar(self) -> dict[str, Any]:
        return {
            "WindowSizePx": list(self.window_px),
            "ScreenWidthPx": self.screen_width_px,
            "PixelPitchCm": round(self.pixel_pitch_cm, 6),
            "ViewingDistanceCm": self.distance_cm,
            "PixelsPerDegree": round(self.px_per_deg, 4),
            "WindowSizeDeg": [round(v, 4) for v in self.window_deg],
            "ImageSizePx": list(self.image_px),
            "NativeImageSizePx": list(self.native_image_px),
            "ImageSizeDeg": round(self.image_deg, 4),
        }


def measure(mon: MonitorConfig, window_px: tuple[int, int], fullscreen: bool,
            native_image_px: tuple[int, int]) -> Geometry:
    """The geometry of this window; images scaled to `mon.image_size_deg` when it is set (> 0)."""
    screen_w = int(window_px[0]) if fullscreen else int(mon.resolution_px[0])
    pitch = mon.width_cm / screen_w
    image = tuple(int(v) for v in native_image_px)
    if mon.image_size_deg > 0:
        width = size_cm(mon.image_size_deg, mon.distance_cm) / pitch
        scale = width / native_image_px[0]
        image = (int(round(width)), int(round(native_image_px[1] * scale)))
    return Geometry((int(window_px[0]), int(window_px[1])), screen_w, pitch, mon.distance_cm,
                    image, tuple(int(v) for v in native_image_px))  # type: ignore[arg-type]


METHOD = ("pixel pitch = monitor.width_cm / screen width in px (the full-screen window's real width; "
          "monitor.resolution_px[0] in a window); angle = 2*atan(size_cm / (2 * distance_cm))")
