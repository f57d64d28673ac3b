"""Progress bars: live on a terminal, a few plain lines in a pipe, inner bars hidden there."""

from __future__ import annotations

import io

import pytest

from labutil import progress as P


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_bars_print_few_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(P.ENV, raising=False)
    monkeypatch.setattr(P, "PIPED_INTERVAL", 3600.0)
    out = io.StringIO()
    with P.progress(range(500), desc="outer", unit="x", file=out) as bar:
        for _ in bar:
            for _ in P.progress(range(3), desc="inner", leave=False, file=out):
                pass
            bar.set_postfix_str("busy")  # refreshes: held back by the interval
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "inner" not in out.getvalue()
    assert len(lines) == 2 and lines[0].startswith("outer:   0%") and lines[1].startswith("outer: 100%")
    assert "500/500" in lines[1]


def test_explicit_refreshes_are_condensed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(P.ENV, raising=False)
    monkeypatch.setattr(P, "PIPED_INTERVAL", 3600.0)
    out = io.StringIO()
    bar = P.progress(total=100, desc="sweep", file=out)
    for i in range(100):
        bar.n = i + 1
        bar.refresh()
    bar.close()
    assert len(out.getvalue().splitlines()) == 2


def test_terminal_gets_a_live_bar_and_the_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(P.ENV, raising=False)
    tty = _Tty()
    assert P.stderr_mode(tty) == "bar" and P.stderr_mode(io.StringIO()) == "lines"
    for _ in P.progress(range(3), desc="live", file=tty, mininterval=0):
        pass
    assert "\r" in tty.getvalue()
    monkeypatch.setenv(P.ENV, "off")
    silent = _Tty()
    for _ in P.progress(range(3), desc="hidden", file=silent):
        pass
    assert silent.getvalue() == ""


def test_nested_bars_in_a_pipe_are_condensed_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(P.ENV, raising=False)
    monkeypatch.setattr(P, "PIPED_INTERVAL", 3600.0)
    out = io.StringIO()
    with P.progress(range(3), desc="outer", file=out) as outer:
        for _ in outer:
            with P.progress(range(4), desc="nested", file=out, position=1) as inner:
                for step in inner:
                    inner.set_postfix_str(f"step {step}")
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert sum(line.startswith("nested") for line in lines) == 6  # each nested bar: its first and its last line
    assert [line for line in lines if line.startswith("outer")][-1].startswith("outer: 100%")
