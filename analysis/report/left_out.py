"""What the report left out, in sentences with the counts and the option that brings it in (terminal and HTML)."""

from __future__ import annotations

import pandas as pd

#: reason prefix (analysis.humans.sessions) -> (what, the option that brings such sessions in, or None)
REASONS: tuple[tuple[str, str, str | None], ...] = (
    ("simulated observer", "simulated {s}", "--include-simulated"),
    ("pilot session", "pilot {s}", "--include-pilot"),
    ("session status", "incomplete {s}", "--include-incomplete"),
    ("marked complete but", "incomplete {s}", "--include-incomplete"),
    ("ran on stimulus set", "{s} on another stimulus set", "--set-{task} NAME"),
    ("ran on another version", "{s} on another version of the stimulus set", None),
    ("repeat:", "repeated {s}", None),
    ("unreadable", "unreadable {s}", None),
)


def _kind(reason: str, task: str) -> tuple[str, str | None]:
    for prefix, what, option in REASONS:
        if reason.startswith(prefix):
            return what, option.replace("{task}", "2afc" if task == "2afc" else "questionnaire") if option else None
    return "unusable {s}", None


def left_out_sentences(excluded: pd.DataFrame, task: str) -> list[str]:
    """'2AFC: left out 4 simulated sessions; --include-simulated brings them in', one per kind of reason."""
    if excluded is None or not len(excluded):
        return []
    label = "2AFC" if task == "2afc" else task
    groups: dict[tuple[str, str | None], int] = {}
    for reason in excluded["reason"].astype(str):
        key = _kind(reason, task)
        groups[key] = groups.get(key, 0) + 1
    out = []
    for (what, option), n in groups.items():
        noun = "session" if n == 1 else "sessions"
        them = "it" if n == 1 else "them"
        tail = f"; {option} brings {them} in" if option else " (listed in the report's exclusions)"
        out.append(f"{label}: left out {n} {what.format(s=noun)}{tail}")
    return out
