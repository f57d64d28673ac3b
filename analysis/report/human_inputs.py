"""What both human sections need: their sessions, the stimulus set they ran on, and the exclusions listed."""

from __future__ import annotations

from typing import Any

from analysis.report import html as H
from analysis.report.context import Context, open_set
from analysis.report.left_out import left_out_sentences


def exclusion_parts(ctx: Context, loaded: Any, label: str) -> list[str]:
    parts = [H.paragraph(line + ".") for line in left_out_sentences(loaded.excluded, label)]
    if len(loaded.excluded):
        ex = loaded.excluded.drop(columns=["path"])
        ctx.exclusions.append(loaded.excluded.assign(analysis=label))
        parts.append(H.table(ex, caption=f"{label}: sessions left out", csv_name=ctx.save_table(f"{label}_excluded_sessions", ex)))
    else:
        parts.append(H.paragraph(f"No {label} session was left out."))
    if loaded.practice_rows:
        parts.append(H.paragraph(f"{loaded.practice_rows} practice trials left out."))
    if getattr(loaded, "reshown_left_out", 0):
        parts.append(H.paragraph(f"{loaded.reshown_left_out} trials shown more than once left out "
                                 "(--leave-out-reshown; listed in the methods section)."))
    return parts


def setting_parts(ctx: Context, loaded: Any, label: str) -> list[str]:
    """Lab and online observers side by side (a table, and for the 2AFC Welch's t-test over
    observers), or one line saying that every analysed session was run in the lab."""
    from analysis.humans.sessions import compare_settings, setting_summary
    from analysis.stats import format_p

    settings = set(loaded.settings.values()) if loaded.sessions else set()
    if "online" not in settings:
        return [H.paragraph(f"All {len(loaded.sessions)} analysed {label} sessions were run in the lab.")]
    table = setting_summary(loaded)
    parts = [H.heading("Lab and online observers", 3),
             H.table(table, caption=f"{label}: observers and trials per setting" + (
                 "; accuracy: mean and SD over observers of each observer's proportion correct" if label == "2afc" else ""),
                 csv_name=ctx.save_table(f"{label}_settings", table))]
    diff = compare_settings(loaded)
    if diff is not None:
        parts.append(H.paragraph(
            f"Online minus lab mean observer accuracy: {diff['difference']:+.2%} (Welch's t = {diff['t']:.2f}, "
            f"df = {diff['df']:.1f}, p = {format_p(diff['p_value'])}; {diff['n_online']} online and {diff['n_lab']} lab "
            "observers)."))
    return parts


def simulated_note(loaded: Any) -> list[str]:
    if not loaded.n_simulated:
        return []
    n = len(loaded.sessions)
    who = ("The one analysed session was" if n == 1 else
           f"{'All' if loaded.n_simulated == n else loaded.n_simulated} of the {n} analysed sessions were")
    return [H.paragraph(f"{who} run by simulated observers (--simulate), not by people (--include-simulated "
                        "brought them in).", "missing")]


def sessions_and_set(ctx: Context, sec: H.Section, task: str, set_name: str | None) -> tuple[Any, Any] | None:
    """The task's analysed sessions and the stimulus set they ran on (None if not found); None,
    with the section marked missing and the left-out sessions listed, when no session is usable."""
    from analysis.humans.sessions import load_sessions

    cfg = ctx.cfg
    loaded = load_sessions(cfg.data_root, task, stimulus_set=set_name, include_incomplete=cfg.include_incomplete,
                           include_pilot=cfg.include_pilot, include_simulated=cfg.include_simulated,
                           leave_out_reshown=cfg.leave_out_reshown)
    ctx.tell(*left_out_sentences(loaded.excluded, task))
    if not loaded.sessions:
        sec.available = False
        sec.add(H.missing(f"No usable {task.upper() if task == '2afc' else task} sessions under {cfg.data_root}/: "
                          "this section is left out."))
        sec.parts += exclusion_parts(ctx, loaded, task) if len(loaded.excluded) else []
        return None
    return loaded, open_set(cfg.stimuli, loaded.stimulus_set, loaded.set_checksum)
