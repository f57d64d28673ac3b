"""Real key presses on an X display through the XTEST extension (python-xlib).

The X server delivers them like presses on a physical keyboard, so PsychoPy's ptb keyboard sees
them on its normal path: this is how simulated observers and the tests drive the programs.
"""

from __future__ import annotations

import os
import time
from typing import Any

from experiment.config import SPECIAL_KEYS, is_key_name
from labutil.errors import UserError


def keysym_name(key: str) -> str:
    """The X keysym name of a PsychoPy key name (`left` -> `Left`, `y` -> `y`)."""
    if not is_key_name(key):
        raise UserError(f"key '{key}' cannot be pressed by a simulated observer")
    return SPECIAL_KEYS.get(key, key)


class KeyPresser:
    """A connection to the X display that presses and releases keys through XTEST."""

    def __init__(self, display: str | None = None) -> None:
        from Xlib import XK, display as xdisplay
        from Xlib.error import DisplayError

        name = display or os.environ.get("DISPLAY")
        if not name:
            raise UserError("no X display (DISPLAY is not set): run under xvfb-run or on the lab screen")
        try:
            self._d: Any = xdisplay.Display(name)
        except DisplayError as exc:
            raise UserError(f"cannot open X display {name}: {exc}") from None
        if not self._d.has_extension("XTEST"):
            self._d.close()
            raise UserError(f"X display {name} has no XTEST extension; simulated key presses need it")
        self._XK = XK
        self._codes: dict[str, int] = {}

    def keycode(self, key: str) -> int:
        if key not in self._codes:
            sym = self._XK.string_to_keysym(keysym_name(key))
            code = self._d.keysym_to_keycode(sym) if sym else 0
            if not code:
                raise UserError(f"key '{key}' has no keycode on this X display")
            self._codes[key] = code
        return self._codes[key]

    def press(self, key: str, hold_s: float = 0.03) -> None:
        """Press and release one key (a short hold, as a finger would)."""
        from Xlib import X
        from Xlib.ext import xtest

        code = self.keycode(key)
        self.last_key = key
        xtest.fake_input(self._d, X.KeyPress, code)
        self._d.sync()
        time.sleep(hold_s)
        xtest.fake_input(self._d, X.KeyRelease, code)
        self._d.sync()

    def press_again(self) -> None:
        """Press the last key once more (a press lost on a loaded X server: no new screen came)."""
        if getattr(self, "last_key", None) is not None:
            self.press(self.last_key)

    def close(self) -> None:
        self._d.close()
