"""`python -m participants register | list | consent | pay | export`: the registry from the shell."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import pandas as pd

from labutil.errors import ArgumentParser
from labutil.paths import check_output_dir
from labutil.validate import finite_float

from participants.registry import (
    DEFAULT_DATA_ROOT,
    DEFAULT_PRIVATE_ROOT,
    FAMILIARITY_LEVELS,
    GENDER_LEVELS,
    HANDEDNESS_LEVELS,
    Registry,
)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT),
                        help="lab data root holding participants.tsv and the session folders (default: %(default)s)")
    common.add_argument("--private-root", default=str(DEFAULT_PRIVATE_ROOT),
                        help="restricted folder (mode 0700) for names, e-mail, consent and payments; must lie "
                             "outside the data root (default: %(default)s)")
    parser = ArgumentParser(
        prog="python -m participants",
        description="Participant registry: pseudonymous ids and demographics in the data root; identities, "
                    "consent and compensation in a restricted folder outside it.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    reg = verbs.add_parser("register", parents=[common], help="register a participant and print the new id",
                           description="Register a participant (non-interactive) and print the new id, e.g. sub-001. "
                                       "Name and e-mail are stored only in the private folder.")
    reg.add_argument("--cnn-familiarity", required=True, metavar="LEVEL",
                     help="familiarity with CNNs: " + "; ".join(f"{k} = {v}" for k, v in FAMILIARITY_LEVELS.items()))
    reg.add_argument("--age", help="age in years (10-120); omit if not given")
    reg.add_argument("--gender", help=f"one of {', '.join(GENDER_LEVELS)}; omit if not given")
    reg.add_argument("--handedness", help=f"one of {', '.join(HANDEDNESS_LEVELS)}; omit if not given")
    reg.add_argument("--group", help="study group label, e.g. pilot or main (letters, digits, - _ .)")
    reg.add_argument("--notes", help="free-text note, one line; MUST NOT identify the participant")
    reg.add_argument("--registered", metavar="YYYY-MM-DD", help="registration date (default: today)")
    reg.add_argument("--name", help="participant's name (private folder only; optional)")
    reg.add_argument("--email", help="participant's e-mail address (private folder only; optional)")

    verbs.add_parser("list", parents=[common], help="show the pseudonymous table and each participant's sessions",
                     description="Show the registry without names: demographics, sessions (number:task:status(trials)) "
                                 "and, if the private folder is at hand, the latest consent form and hours paid.")

    con = verbs.add_parser("consent", parents=[common], help="record a participant's consent",
                           description="Record in the private folder that a participant gave consent.")
    con.add_argument("participant", metavar="PID", help="participant id, e.g. sub-001")
    con.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="date the consent form was signed")
    con.add_argument("--form-version", required=True, help="version of the consent form, e.g. 2024-03")

    pay = verbs.add_parser("pay", parents=[common], help="record a compensation payment",
                           description="Record in the private folder the hours and amount paid to a participant.")
    pay.add_argument("participant", metavar="PID", help="participant id, e.g. sub-001")
    pay.add_argument("--hours", required=True, type=finite_float, help="hours compensated (0-100)")
    pay.add_argument("--amount", required=True, type=finite_float, help="amount paid, e.g. 15.00")
    pay.add_argument("--currency", default="EUR", help="three-letter currency code (default: %(default)s)")
    pay.add_argument("--date", metavar="YYYY-MM-DD", help="payment date (default: today)")

    exp = verbs.add_parser("export", parents=[common], help="write a shareable copy of the data root",
                           description="Copy participants.tsv/json and the session folders to OUT_DIR, and refuse "
                                       "(exporting nothing) if any file contains a registered name or e-mail.")
    exp.add_argument("out_dir", metavar="OUT_DIR", help="new or empty folder for the copy (outside the data root)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    registry = Registry(args.data_root, args.private_root)
    if args.verb == "register":
        check_output_dir(args.data_root, "--data-root")
        pid = registry.register(cnn_familiarity=args.cnn_familiarity, age=args.age, gender=args.gender,
                                handedness=args.handedness, group=args.group, notes=args.notes,
                                registered=args.registered, name=args.name, email=args.email)
        print(pid)
    elif args.verb == "list":
        print(list_table(registry))
    elif args.verb == "consent":
        registry.record_consent(args.participant, args.date, args.form_version)
        print(f"consent of {args.participant} recorded in {registry.private_root}")
    elif args.verb == "pay":
        registry.record_payment(args.participant, args.hours, args.amount, args.date, args.currency)
        print(f"payment to {args.participant} recorded in {registry.private_root}")
    elif args.verb == "export":
        from participants.export import export_data

        n = export_data(registry, args.out_dir)
        n_ids = len(registry.private_records("identities.tsv"))
        print(f"exported {n} files to {args.out_dir}; checked against {n_ids} registered identities")
    return 0


def list_table(registry: Registry) -> str:
    """The pseudonymous table as text, with sessions and (if at hand) consent and hours paid."""
    df = registry.participants()
    if df.empty:
        return f"no participants registered in {registry.tsv}"
    df["sessions"] = [
        " ".join(f"{s.session:02d}:{s.task}:{s.status}({s.n_trials})" for s in registry.sessions(pid)) or "-"
        for pid in df["participant_id"]
    ]
    consent = {r["participant_id"]: r["form_version"] for r in registry.private_records("consent.tsv")}
    payments = registry.private_records("payments.tsv")
    if consent or payments:
        df["consent"] = [consent.get(pid, "-") for pid in df["participant_id"]]
        hours = pd.Series({}, dtype=float)
        if payments:
            hours = pd.DataFrame(payments).astype({"hours": float}).groupby("participant_id")["hours"].sum()
        df["hours_paid"] = [f"{hours.get(pid, 0.0):g}" for pid in df["participant_id"]]
    return df.astype(object).fillna("n/a").to_string(index=False)
