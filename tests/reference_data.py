"""Where the original study's published data lies (../shared/reference beside the checkout).

`TOI_REFERENCE_DIR` overrides it; tests that need the files skip, naming the folder, where it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path


def _find() -> Path:
    if os.environ.get("TOI_REFERENCE_DIR"):
        return Path(os.environ["TOI_REFERENCE_DIR"])
    for candidate in (Path(__file__).resolve().parents[2] / "shared" / "reference", Path("/work/shared/reference")):
        if candidate.is_dir():
            return candidate
    return Path(__file__).resolve().parents[2] / "shared" / "reference"


REFERENCE_DIR = _find()
