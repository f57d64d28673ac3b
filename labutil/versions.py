"""Versions of the software that produced a result, for provenance records."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

_PACKAGES = ("trivial-or-impossible", "numpy", "pandas", "pyarrow", "scipy", "torch", "torchvision", "psychopy")


def software_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Python, platform and installed versions of the packages that matter; absent ones are left out."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in (*_PACKAGES, *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
