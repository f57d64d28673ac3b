"""The PsychoPy window, the ptb keyboard and the screens both programs share.

Import this module only inside a program's run function: it imports psychopy (and sets the
keyboard backend preference first). Every screen is shown by an onset flip that resets the
keyboard clock and clears its buffer, so an RT counts from the moment the screen appeared and a
key pressed before it never answers it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from psychopy import prefs

prefs.hardware["keyboard"] = "ptb"  # before psychopy.hardware is imported: the event backend loses keys

from psychopy import event, logging, piloting, visual  # noqa: E402
from psychopy.hardware import keyboard  # noqa: E402

from experiment.config import LabConfig, key_label, make_monitor  # noqa: E402
from experiment.simulate import ScreenListener  # noqa: E402
from labutil.errors import UserError  # noqa: E402


class Aborted(Exception):
    """The observer pressed the quit key and confirmed."""


class Display:
    """One PsychoPy window with its keyboard, frame pacing and shared screens."""

    def __init__(self, cfg: LabConfig, pilot: bool, listener: ScreenListener) -> None:
        self.cfg = cfg
        self.listener = listener
        self.monitor = make_monitor(cfg.monitor)  # loads its saved calibration (gamma) if there is one
        m = cfg.monitor
        if pilot:
            piloting.setPilotMode(True)
            size = [max(int(v), 100) for v in prefs.piloting["forcedWindowSize"]]
            fullscr = False
        else:
            size, fullscr = list(m.resolution_px), m.fullscreen
        self.fullscreen = bool(fullscr)
        try:
            self.win = visual.Window(
                size=size, fullscr=fullscr, screen=m.screen, monitor=self.monitor, units="pix",
                color=list(m.background), colorSpace="rgb", allowGUI=pilot, winType="pyglet",
            )
        except OSError as exc:  # e.g. the calibration's gamma table cannot be loaded into this display
            raise UserError(f"cannot open the window with monitor '{m.name}' (its calibration's gamma "
                            f"cannot be applied here?): {str(exc).splitlines()[0]}") from None
        if pilot:
            self.win.showPilotingIndicator()
        self.win.mouseVisible = pilot
        self.frame_period = 1.0 / m.frame_rate_hz
        self.win.refreshThreshold = 1.5 * self.frame_period
        # No vsync (e.g. Xvfb): flips return at once, so pace the redraw loop to the nominal rate.
        self.measured_frame_period = self._measure_frame_period()
        self.paced = self.measured_frame_period < 0.8 * self.frame_period
        self.kb = keyboard.Keyboard(backend="ptb")
        backend = self.kb.getBackend()
        if backend != "ptb":
            self.win.close()
            raise UserError(f"PsychoPy's keyboard backend is '{backend}', not 'ptb' (key presses could be lost); "
                            "install psychtoolbox and libjack-jackd2-0")
        self._last_flip: float | None = None
        self._flip_cost = 0.001
        height = self.win.size[1]
        self.text = visual.TextStim(self.win, text="", height=22, color="white", units="pix",
                                    wrapWidth=min(900, self.win.size[0] - 80), autoLog=False)
        self.small = visual.TextStim(self.win, text="", height=16, color=[0.6, 0.6, 0.6], units="pix",
                                     pos=(0, -height / 2 + 24), wrapWidth=self.win.size[0] - 40,
                                     autoLog=False)
        self.fixation = visual.TextStim(self.win, text="+", height=40, color="black", units="pix",
                                        autoLog=False)
        self.reminder = visual.TextStim(self.win, text="", height=18, color=[0.8, 0.8, 0.8], units="pix",
                                        pos=(0, -height / 2 + 60), wrapWidth=self.win.size[0] - 40, autoLog=False)
        # created now, not in the middle of a trial (creating it pumps the window's events)
        self.mouse: Any = event.Mouse(win=self.win, visible=pilot)
        # called as hook(kind, onset, duration) for a quit confirmation (kind "quit_confirm")
        self.event_hook: Callable[[str, float, float], None] | None = None
        self.quit_pauses: list[float] = []  # seconds each quit confirmation stayed on screen

    # ------------------------------------------------------------------------------- frames

    def flip(self) -> float:
        """Flip; on a display without vsync (e.g. Xvfb) wait for the next nominal frame first."""
        if self.paced and self._last_flip is not None:
            wait = self._last_flip + self.frame_period - self.now() - self._flip_cost
            if wait > 0:
                time.sleep(wait)
        t_call = self.now()
        t = self.win.flip()
        if t is None:
            t = self.now()
        # running estimate of how long a flip takes, so that paced flips land one period apart
        self._flip_cost = 0.9 * self._flip_cost + 0.1 * min(float(t) - t_call, self.frame_period / 2)
        self._last_flip = float(t)
        return float(t)

    def _measure_frame_period(self, n: int = 12) -> float:
        """Median interval of `n` back-to-back flips (one refresh with vsync, ~0 without)."""
        import numpy as np

        times = [float(self.win.flip() or self.now()) for _ in range(n + 1)]
        return float(np.median(np.diff(times)))

    def record_frames(self, on: bool) -> None:
        self.win.recordFrameIntervals = on

    def now(self) -> float:
        """The clock of flip timestamps (PsychoPy's default clock)."""
        return float(logging.defaultClock.getTime())

    # ------------------------------------------------------------------------------- screens

    def onset(self, draw: Callable[[], None], screen: str, info: dict[str, Any]) -> float:
        """Show a screen: draw, reset the keyboard clock and clear its buffer on the flip, log it,
        tell the listener. Returns the flip time."""
        draw()
        self.win.callOnFlip(self.kb.clock.reset)
        self.win.callOnFlip(self.kb.clearEvents)
        desc = " ".join(f"{k}={v}" for k, v in info.items())
        self.win.logOnFlip(f"SCREEN {screen} {desc}".strip(), level=logging.EXP)
        t = self.flip()
        logging.flush()
        self.listener.on_screen(screen, info)
        return t

    def wait_keys(self, draw: Callable[[], None], keys: Sequence[str], screen: str,
                  info: dict[str, Any], allow_quit: bool = True,
                  on_show: Callable[[float, str], None] | None = None,
                  aliases: dict[str, str] | None = None,
                  buttons: Sequence[tuple[Any, str]] = ()) -> tuple[str, float, float]:
        """Show a screen and redraw it every frame until one of `keys`; returns (key, rt, onset).

        `aliases` maps further key names to answers (keypad digits), `buttons` are (shape, key)
        pairs answered by a mouse click inside the shape (RT to the frame the click was seen).
        `on_show(onset, reason)` is told of every onset (reason `first` or `after_quit_cancel`).
        The quit key asks for confirmation: confirmed raises Aborted, cancelled shows the screen
        again with a new onset (the RT then counts from the new onset)."""
        quit_key = self.cfg.keys.quit
        aliases = aliases or {}
        wanted = [*keys, *aliases, quit_key] if allow_quit else [*keys, *aliases]
        t_on = self.onset(draw, screen, info)
        if on_show:
            on_show(t_on, "first")
        held = self._mouse_down() if buttons else False
        while True:
            self._check_listener()
            pressed = self.kb.getKeys(keyList=wanted, waitRelease=False, clear=True)
            if pressed:
                key = pressed[0]
                if key.name == quit_key and allow_quit:
                    if self.confirm_quit():
                        raise Aborted()
                    t_on = self.onset(draw, screen, {**info, "reshown": 1})
                    if on_show:
                        on_show(t_on, "after_quit_cancel")
                    held = self._mouse_down() if buttons else False
                    continue
                return aliases.get(str(key.name), str(key.name)), float(key.rt), t_on
            if buttons:
                down = self._mouse_down()
                if down and not held:
                    hit = next((k for shape, k in buttons if shape.contains(self.mouse)), None)
                    if hit is not None:
                        return hit, self.now() - t_on, t_on
                held = down
            draw()
            self.flip()

    def _mouse_down(self) -> bool:
        """The left button's state as of the last flip (which pumps the window's events);
        Mouse.getPressed() would pump them again, and that loses ptb key presses."""
        return bool(event.mouseButtons[0])

    def show_mouse(self, visible: bool) -> None:
        self.win.mouseVisible = visible

    def confirm_quit(self) -> bool:
        """The y/n screen after the quit key; True to quit."""
        k = self.cfg.keys
        was_recording = self.win.recordFrameIntervals
        self.record_frames(False)
        text = (f"Quit the session?\n\nYour answers so far are saved.\n\n"
                f"Press {key_label(k.confirm_yes)} to quit, {key_label(k.confirm_no)} to continue.")
        key, rt, onset = self.wait_keys(lambda: self._draw_text(text), [k.confirm_yes, k.confirm_no],
                                        "confirm_quit", {}, allow_quit=False)
        self.quit_pauses.append(rt)
        if self.event_hook:
            self.event_hook("quit_confirm", onset, rt)
        self.record_frames(was_recording)
        return key == k.confirm_yes

    def text_screen(self, text: str, screen: str, info: dict[str, Any] | None = None,
                    footer: str = "", allow_quit: bool = True) -> None:
        """A text screen left with the proceed key (the quit key asks for confirmation, or, with
        allow_quit False, leaves it too)."""
        was_recording = self.win.recordFrameIntervals
        self.record_frames(False)
        keys = [self.cfg.keys.proceed] if allow_quit else [self.cfg.keys.proceed, self.cfg.keys.quit]
        self.wait_keys(lambda: self._draw_text(text, footer), keys, screen, info or {}, allow_quit=allow_quit)
        self.record_frames(was_recording)

    def timed_text(self, text: str, screen: str, duration: float, info: dict[str, Any] | None = None) -> float:
        """A text shown for `duration` seconds without waiting for a key (practice feedback); its onset."""
        t_on = self.onset(lambda: self._draw_text(text), screen, info or {})
        while self.now() < t_on + duration - 1.5 * self.frame_period:
            self._check_listener()
            self._draw_text(text)
            self.flip()
        return t_on

    def show_fixation(self, footer: str = "") -> float:
        """Flip to the fixation cross; returns its onset."""
        def draw() -> None:
            self.fixation.draw()
            self._draw_footer(footer)
        draw()
        t = self.flip()
        self._fixation_draw = draw
        return t

    def hold_fixation(self, since: float, duration: float) -> None:
        """Keep the fixation cross on screen so that the next flip (the stimulus onset) lands
        `duration` seconds after `since`, to the nearest frame."""
        draw = getattr(self, "_fixation_draw", self.fixation.draw)
        while (self._last_flip or since) + 1.5 * self.frame_period < since + duration:
            self._check_listener()
            draw()
            self.flip()

    def new_text(self, height: float = 22) -> Any:
        """A white TextStim for a task's own text (e.g. a question under the image)."""
        return visual.TextStim(self.win, text="", height=height, color="white", units="pix",
                               wrapWidth=min(900, self.win.size[0] - 80), autoLog=False)

    def _draw_text(self, text: str, footer: str = "") -> None:
        self.text.text = text
        self.text.draw()
        self._draw_footer(footer)

    def _draw_footer(self, footer: str) -> None:
        if footer:
            self.small.text = footer
            self.small.draw()

    def draw_footer(self, footer: str, reminder: str = "") -> None:
        """The trial counter at the bottom, and the key reminder above it."""
        self._draw_footer(footer)
        if reminder:
            self.reminder.text = reminder
            self.reminder.draw()

    def _check_listener(self) -> None:
        err = getattr(self.listener, "error", None)
        if err is not None:
            raise RuntimeError(f"simulated observer failed: {err!r}") from err

    # ------------------------------------------------------------------------------- images

    def load_images(self, paths: dict[str, Path]) -> dict[str, Any]:
        """ImageStims at native pixel size, textures uploaded now (before the first trial)."""
        stims = {}
        for stim_id, path in paths.items():
            stims[stim_id] = visual.ImageStim(self.win, image=str(path), units="pix", interpolate=False,
                                              name=stim_id, autoLog=False)
        return stims

    @staticmethod
    def scale_images(stims: dict[str, Any], size_px: tuple[int, int]) -> None:
        """Draw every image at `size_px` (smoothly interpolated) instead of its native size."""
        for stim in stims.values():
            stim.interpolate = True
            stim.size = (float(size_px[0]), float(size_px[1]))

    def frame_count(self) -> int:
        """Frame intervals recorded so far (to slice out one trial's)."""
        return len(self.win.frameIntervals)

    def frames_since(self, start: int) -> list[float]:
        """The frame intervals (s) recorded since `frame_count()` returned `start`."""
        return [float(v) for v in self.win.frameIntervals[start:]]

    def gamma_record(self) -> dict[str, Any]:
        """Which gamma the window applies: the monitor calibration's, or the system's own table."""
        gamma = getattr(self.win, "gamma", None)
        try:
            gamma = None if gamma is None else [float(g) for g in gamma]
        except TypeError:
            gamma = [float(gamma)]
        return {"UseNativeGamma": bool(getattr(self.win, "useNativeGamma", True)), "Gamma": gamma}

    def frame_stats(self) -> dict[str, Any]:
        """Frame intervals recorded so far: count, dropped (> 1.5 nominal frames), median, max."""
        import numpy as np

        iv = np.asarray(self.win.frameIntervals, dtype=float)
        if iv.size == 0:
            return {"FramesRecorded": 0, "DroppedFrames": 0}
        return {
            "FramesRecorded": int(iv.size),
            "DroppedFrames": int((iv > 1.5 * self.frame_period).sum()),
            "FrameIntervalMedianMs": round(float(np.median(iv)) * 1000, 3),
            "FrameIntervalMaxMs": round(float(iv.max()) * 1000, 3),
            "NominalFrameRateHz": round(1.0 / self.frame_period, 3),
        }

    def close(self) -> None:
        self.win.close()
