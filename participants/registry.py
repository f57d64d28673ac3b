"""The participant registry: pseudonymous ids and demographics in the data root, identities apart.

The data root (default `lab_data/`) holds BIDS `participants.tsv` / `participants.json` and a
hidden bookkeeping file `.registry.json` (the highest participant and session numbers ever
allocated, so a deleted row or folder never frees its number). Names, e-mail addresses, consent
and compensation live in a restricted folder outside the data root (default `lab_private/`,
mode 0700, files 0600), bound to one data root by a registry id. See docs/formats.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import stat
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from labutil.errors import UserError
from labutil.io import atomic_write_text, read_json, read_json_object, remove_leftovers, write_json
from participants.layout import COLUMNS as LAYOUT_COLUMNS
from participants.layout import (
    MAIN_CATEGORY_LEVELS,
    TASKS,
    UNUSUAL_LEVELS,
    check_participant_id,
    find_sessions,
    participant_id,
    read_session,
    read_sidecar,
)

DEFAULT_DATA_ROOT = Path("lab_data")
DEFAULT_PRIVATE_ROOT = Path("lab_private")

FORMAT_VERSION = 1
NA = "n/a"

COLUMNS: tuple[str, ...] = (
    "participant_id", "age", "gender", "handedness", "cnn_familiarity", "group", "notes", "registered",
)
FAMILIARITY_LEVELS: dict[str, str] = {
    "naive": "no knowledge of convolutional neural networks",
    "knows_cnns": "knows what CNNs are and roughly how they work",
    "works_on_cnns": "works with CNNs (e.g. trains or studies them)",
}
GENDER_LEVELS: dict[str, str] = {"female": "female", "male": "male", "diverse": "diverse / non-binary"}
HANDEDNESS_LEVELS: dict[str, str] = {"left": "left", "right": "right", "ambidextrous": "ambidextrous"}
AGE_RANGE = (10, 120)
NOTES_MAX = 200

SIDECAR: dict[str, dict[str, Any]] = {
    "participant_id": {"Description": "Pseudonymous participant id (sub-001, ...), allocated in order and never reused."},
    "age": {"Description": "Age at registration, in years; n/a if not given.", "Units": "year"},
    "gender": {"Description": "Self-reported gender; n/a if not given.", "Levels": GENDER_LEVELS},
    "handedness": {"Description": "Self-reported handedness; n/a if not given.", "Levels": HANDEDNESS_LEVELS},
    "cnn_familiarity": {
        "Description": "Familiarity with convolutional neural networks, as in the observer description of "
        "Meding et al. (ICLR 2022).",
        "Levels": FAMILIARITY_LEVELS,
    },
    "group": {"Description": "Study group label (letters, digits, '-', '_', '.'), e.g. pilot or main; n/a if none."},
    "notes": {
        "Description": "Free-text notes for the experimenter. WARNING: must not identify the participant - no "
        "names, contact details, addresses, student numbers or descriptions that point to a person."
    },
    "registered": {"Description": "Date of registration (YYYY-MM-DD)."},
}

# Files of the restricted folder: name -> columns.
PRIVATE_FILES: dict[str, tuple[str, ...]] = {
    "identities.tsv": ("participant_id", "name", "email"),
    "consent.tsv": ("participant_id", "date", "form_version", "recorded"),
    "payments.tsv": ("participant_id", "date", "hours", "amount", "currency", "recorded"),
    # Recruitment-platform ids of online observers (experiment.web): never in the data root.
    "platform_ids.tsv": ("participant_id", "platform", "platform_id", "study_id", "recorded"),
}
PRIVATE_BINDING = "registry.json"

_GROUP = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SES = re.compile(r"^ses-([0-9]+)$")


@dataclass(frozen=True)
class SessionInfo:
    """One existing session of a participant, as found on disk."""

    participant_id: str
    session: int
    task: str
    status: str  # SessionStatus from the sidecar: incomplete | complete | aborted
    n_trials: int  # complete rows in the TSV
    path: Path


@dataclass(frozen=True)
class Leak:
    """An identity string of a participant found in a file (the string itself is not kept)."""

    path: Path
    participant_id: str
    kind: str  # name | name part | email | email user | platform id


class Registry:
    """The participant registry of one data root, with its restricted identity folder."""

    def __init__(self, data_root: Path | str = DEFAULT_DATA_ROOT, private_root: Path | str | None = None) -> None:
        self.root = Path(data_root)
        self.private_root = Path(private_root) if private_root is not None else DEFAULT_PRIVATE_ROOT
        data, private = self.root.resolve(), self.private_root.resolve()
        if private == data or data in private.parents:
            raise UserError(f"private folder {self.private_root} lies inside the data root {self.root}; "
                            "put it outside (e.g. --private-root lab_private)")
        if private in data.parents:
            raise UserError(f"data root {self.root} lies inside the private folder {self.private_root}")

    # ---------------------------------------------------------------------------------- paths

    @property
    def tsv(self) -> Path:
        return self.root / "participants.tsv"

    @property
    def sidecar(self) -> Path:
        return self.root / "participants.json"

    @property
    def state_path(self) -> Path:
        return self.root / ".registry.json"

    @property
    def lock_path(self) -> Path:
        return self.root / ".registry.lock"

    # ---------------------------------------------------------------------------------- reading

    def participants(self) -> pd.DataFrame:
        """The pseudonymous table: one row per participant, age as nullable Int64, n/a as missing."""
        header, rows = self._read_rows()
        df = pd.DataFrame(rows, columns=header, dtype=object)
        df = df.replace({NA: pd.NA})
        df["age"] = pd.to_numeric(df["age"]).astype("Int64")
        return df

    def is_registered(self, pid: str) -> bool:
        check_participant_id(pid)
        return any(r["participant_id"] == pid for r in self._read_rows()[1])

    def require(self, pid: str) -> dict[str, Any]:
        """The participant's row; a one-line UserError if the id is not registered."""
        check_participant_id(pid)
        for row in self._read_rows()[1]:
            if row["participant_id"] == pid:
                out: dict[str, Any] = {k: (None if v == NA else v) for k, v in row.items()}
                out["age"] = int(row["age"]) if row["age"] != NA else None
                return out
        raise UserError(f"{pid} is not registered in {self.tsv}")

    def sessions(self, pid: str) -> list[SessionInfo]:
        """Existing sessions of a participant (any task), sorted by session then task."""
        check_participant_id(pid)
        out = []
        for tsv in find_sessions(self.root):
            if tsv.parents[2].name != pid:
                continue
            m = _SES.match(tsv.parents[1].name)
            task = tsv.name.rsplit("_task-", 1)[1][: -len("_beh.tsv")]
            status = _session_status(tsv)
            out.append(SessionInfo(pid, int(m.group(1)) if m else 0, task, status, _complete_rows(tsv), tsv))
        return sorted(out, key=lambda s: (s.session, s.task))

    # ---------------------------------------------------------------------------------- allocation

    def register(self, *, cnn_familiarity: str, age: int | str | None = None, gender: str | None = None,
                 handedness: str | None = None, group: str | None = None, notes: str | None = None,
                 registered: dt.date | str | None = None, name: str | None = None,
                 email: str | None = None) -> str:
        """Register a participant and return the new id; name and e-mail go to the private folder only."""
        row = {
            "age": _check_age(age),
            "gender": _check_level("gender", gender, GENDER_LEVELS, optional=True),
            "handedness": _check_level("handedness", handedness, HANDEDNESS_LEVELS, optional=True),
            "cnn_familiarity": _check_level("cnn_familiarity", cnn_familiarity, FAMILIARITY_LEVELS, optional=False),
            "group": _check_group(group),
            "notes": _check_notes(notes),
            "registered": _check_date("registered", registered),
        }
        identity = {"name": _check_name(name), "email": _check_email(email)}
        has_identity = any(v != "" for v in identity.values())
        if has_identity:
            self._check_private()
        needles = self._needles(extra={"new": identity})
        for col in ("group", "notes"):
            hit = next((kind for _, kind, needle in needles if needle.found(fold(row[col]))), None)
            if hit:
                raise UserError(f"--{col} contains a registered {hit}; {col} must not identify a person")
        with self._locked():
            header, rows = self._read_rows()
            _check_identity_not_in_rows(identity, rows)
            state = self._read_state()
            numbers = [int(r["participant_id"][4:]) for r in rows]
            pid = participant_id(max([int(state.get("last_participant", 0)), *numbers]) + 1)
            if has_identity:
                self._bind_private(state)
                ident = [r for r in self._read_private("identities.tsv") if r["participant_id"] != pid]
                ident.append({"participant_id": pid, **identity})
                self._write_private("identities.tsv", ident)
            full = {c: NA for c in header} | {"participant_id": pid} | row
            rows.append(full)
            if not self.sidecar.is_file():
                write_json(self.sidecar, SIDECAR)
            atomic_write_text(self.tsv, _format_tsv(header, rows))
            state["last_participant"] = int(pid[4:])
            if has_identity:
                state["private_bound"] = True
            self._write_state(state)
        return pid

    def platform_participant(self, platform: str, platform_id: str, study_id: str = "",
                             group: str = "online") -> tuple[str, bool]:
        """The participant id of a recruitment platform's id, registering a new participant (with
        unknown demographics, in `group`) on first sight; returns (pid, new). The platform id is
        kept only in the private folder's platform_ids.tsv."""
        for option, value, limit in (("platform", platform, 32), ("platform id", platform_id, 128),
                                     ("study id", study_id, 128)):
            _check_text(option.replace(" ", "-"), value, limit, required=option != "study id")
        row = {"age": NA, "gender": NA, "handedness": NA, "cnn_familiarity": NA, "group": _check_group(group),
               "notes": NA, "registered": _check_date("registered", None)}
        with self._locked():
            self._check_private()
            for r in self._read_private("platform_ids.tsv"):
                if r["platform"] == platform and r["platform_id"] == platform_id:
                    return r["participant_id"], False
            header, rows = self._read_rows()
            state = self._read_state()
            numbers = [int(r["participant_id"][4:]) for r in rows]
            pid = participant_id(max([int(state.get("last_participant", 0)), *numbers]) + 1)
            self._bind_private(state)
            ids = self._read_private("platform_ids.tsv")
            ids.append({"participant_id": pid, "platform": platform, "platform_id": platform_id,
                        "study_id": study_id or NA, "recorded": _now()})
            self._write_private("platform_ids.tsv", ids)
            rows.append({c: NA for c in header} | {"participant_id": pid} | row)
            if not self.sidecar.is_file():
                write_json(self.sidecar, SIDECAR)
            atomic_write_text(self.tsv, _format_tsv(header, rows))
            state["last_participant"] = int(pid[4:])
            state["private_bound"] = True
            self._write_state(state)
        return pid, True

    def next_session(self, pid: str) -> int:
        """Allocate the participant's next session number: one more than any that ever existed."""
        self.require(pid)
        with self._locked():
            state = self._read_state()
            n = max(self._highest_session(pid, state), 0) + 1
            state.setdefault("last_session", {})[pid] = n
            self._write_state(state)
        return n

    def claim_session(self, pid: str, session: int) -> None:
        """Record that a session number chosen by hand is in use, so it is never allocated again."""
        self.require(pid)
        if session < 1:
            raise UserError(f"session number {session} must be 1 or more")
        with self._locked():
            state = self._read_state()
            if session > self._highest_session(pid, state):
                state.setdefault("last_session", {})[pid] = session
                self._write_state(state)

    # ---------------------------------------------------------------------------------- private records

    def record_consent(self, pid: str, date: dt.date | str, form_version: str) -> None:
        """Append a consent record (date, form version) to the private folder."""
        self.require(pid)
        row = {"participant_id": pid, "date": _check_date("date", date, allow_future=False),
               "form_version": _check_text("form-version", form_version, 40, required=True),
               "recorded": _now()}
        self._append_private("consent.tsv", row)

    def record_payment(self, pid: str, hours: float, amount: float, date: dt.date | str | None = None,
                       currency: str = "EUR") -> None:
        """Append a compensation record (hours, amount, date) to the private folder."""
        self.require(pid)
        if not (isinstance(hours, int | float) and 0 < hours <= 100):
            raise UserError(f"--hours {hours}: must be a number of hours between 0 and 100")
        if not (isinstance(amount, int | float) and 0 <= amount <= 100000):
            raise UserError(f"--amount {amount}: must be a non-negative amount")
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise UserError(f"--currency '{currency}': must be a three-letter code such as EUR")
        row = {"participant_id": pid, "date": _check_date("date", date, allow_future=False),
               "hours": f"{hours:g}", "amount": f"{amount:.2f}", "currency": currency, "recorded": _now()}
        self._append_private("payments.tsv", row)

    def private_records(self, name: str) -> list[dict[str, str]]:
        """Rows of one private file (identities.tsv, consent.tsv, payments.tsv) of this data root;
        [] if the private folder is absent or belongs to another data root."""
        if not self._private_exists() or not self._binding_matches():
            return []
        self._check_private()
        return self._read_private(name)

    # ---------------------------------------------------------------------------------- leak scan

    def find_identity_leaks(self, root: Path) -> list[Leak]:
        """Files under `root` whose path or contents contain a registered name or e-mail address."""
        needles = self._needles()
        leaks = []
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            texts = [fold(str(path.relative_to(root))), *(fold(t) for t in decodings(path.read_bytes()))]
            hit = next(((pid, kind) for pid, kind, needle in needles if any(needle.found(t) for t in texts)), None)
            if hit:
                leaks.append(Leak(path, *hit))
        return leaks

    def identity_check_possible(self) -> bool:
        """False when identities were recorded for this data root but its private folder is not at hand."""
        if not self._read_state().get("private_bound"):
            return True
        return self._private_exists() and self._binding_matches()

    # ---------------------------------------------------------------------------------- internals

    def _read_rows(self) -> tuple[list[str], list[dict[str, str]]]:
        if not self.tsv.is_file():
            return list(COLUMNS), []
        header, rows = _parse_tsv(self.tsv)
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise UserError(f"{self.tsv}: missing column(s) {', '.join(missing)}")
        seen = set()
        for i, r in enumerate(rows, start=2):
            pid = r["participant_id"]
            if not re.fullmatch(r"sub-[0-9]{3,}", pid) or pid in seen:
                raise UserError(f"{self.tsv}: row {i}: participant_id '{pid}' is malformed or repeated")
            if r["age"] != NA and not re.fullmatch(r"[0-9]+", r["age"]):
                raise UserError(f"{self.tsv}: row {i}: age '{r['age']}' is not a whole number or n/a")
            seen.add(pid)
        return header, rows

    def _read_state(self) -> dict[str, Any]:
        if not self.state_path.is_file():
            return {"format_version": FORMAT_VERSION, "registry_id": uuid.uuid4().hex,
                    "last_participant": 0, "last_session": {}, "private_bound": False}
        return _check_state(read_json(self.state_path), self.state_path)

    def _write_state(self, state: dict[str, Any]) -> None:
        write_json(self.state_path, state)

    def _highest_session(self, pid: str, state: dict[str, Any]) -> int:
        on_disk = [int(m.group(1)) for d in (self.root / pid).glob("ses-*") if (m := _SES.match(d.name))]
        return max([int(state.get("last_session", {}).get(pid, 0)), *on_disk])

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive lock over the registry (data root and private folder) across processes."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                remove_leftovers(self.root)  # temporary files of a killed registry write
                if self.private_root.is_dir():
                    remove_leftovers(self.private_root)
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _private_exists(self) -> bool:
        return self.private_root.exists()

    def _check_private(self) -> None:
        """Refuse a private folder (or file in it) that group or others can access, or that is not ours."""
        p = self.private_root
        if not p.exists():
            return
        if not p.is_dir():
            raise UserError(f"private folder {p} is not a folder")
        for path in [p, *p.iterdir()]:
            st = path.lstat()
            if st.st_uid != os.getuid():
                raise UserError(f"{path} belongs to another user; the private folder must be yours")
            if stat.S_IMODE(st.st_mode) & 0o077:
                want = "700" if path == p else "600"
                raise UserError(f"{path} is accessible by group/others (mode {stat.S_IMODE(st.st_mode):o}); "
                                f"run: chmod {want} {path}")
        if not self._binding_matches():
            raise UserError(f"private folder {p} belongs to another data root; pass the right --private-root")

    def _binding_matches(self) -> bool:
        binding = self.private_root / PRIVATE_BINDING
        if not binding.is_file():
            return True
        return read_json_object(binding).get("registry_id") == self._read_state()["registry_id"]

    def _bind_private(self, state: dict[str, Any]) -> None:
        """Create the private folder (0700) and tie it to this data root's registry id."""
        p = self.private_root
        p.mkdir(mode=0o700, parents=True, exist_ok=True)  # never wider than 0700, whatever the umask
        os.chmod(p, 0o700)
        binding = p / PRIVATE_BINDING
        if not binding.is_file():
            self._write_private_file(binding, _json_text({"format_version": FORMAT_VERSION,
                                                          "registry_id": state["registry_id"],
                                                          "data_root": str(self.root.resolve())}))
            if not self.state_path.is_file():
                self._write_state(state)

    def _read_private(self, name: str) -> list[dict[str, str]]:
        path = self.private_root / name
        if not path.is_file():
            return []
        return _parse_tsv(path)[1]

    def _write_private(self, name: str, rows: list[dict[str, str]]) -> None:
        self._write_private_file(self.private_root / name, _format_tsv(list(PRIVATE_FILES[name]), rows))

    @staticmethod
    def _write_private_file(path: Path, text: str) -> None:
        atomic_write_text(path, text, mode=0o600)
        os.chmod(path, 0o600)  # explicit, whatever the file was before

    def _append_private(self, name: str, row: dict[str, str]) -> None:
        with self._locked():
            self._check_private()
            state = self._read_state()
            self._bind_private(state)
            rows = self._read_private(name)
            rows.append(row)
            self._write_private(name, rows)
            if not state.get("private_bound"):
                state["private_bound"] = True
                self._write_state(state)

    def _needles(self, extra: dict[str, dict[str, str]] | None = None) -> list[tuple[str, str, _Needle]]:
        """(pid, kind, pattern) for every registered e-mail, name, e-mail user and name part, the
        most specific first (a file is reported with the first kind that matches)."""
        idents = {r["participant_id"]: r for r in self.private_records("identities.tsv")} | (extra or {})
        ranked: list[tuple[int, str, str, _Needle]] = []
        for pid, r in idents.items():
            name, email = r.get("name", "").strip(), r.get("email", "").strip()
            name, email = fold(name), fold(email)
            if email:
                ranked.append((0, pid, "email", _Needle(email, whole_word=False)))
                user = email.split("@", 1)[0]
                if len(user) >= 3 and user not in _FORMAT_WORDS:
                    ranked.append((2, pid, "email user", _word(user)))
            if name:
                ranked.append((1, pid, "name", _word(name)))
                ranked += [(3, pid, "name part", _word(part)) for part in re.split(r"[\s,]+", name)
                           if len(part) >= 3 and part != name and part not in _FORMAT_WORDS]
        for r in self.private_records("platform_ids.tsv"):  # online observers' recruitment-platform ids
            if len(r.get("platform_id", "")) >= 6:
                ranked.append((0, r["participant_id"], "platform id", _word(fold(r["platform_id"]))))
        return [(pid, kind, needle) for _, pid, kind, needle in sorted(ranked, key=lambda t: t[0])]


# -------------------------------------------------------------------------------------- helpers

# Words the software itself writes into the data tree (column names, levels, column descriptions);
# a name part equal to one of them ("Right", "Test", "Main") would match files of every participant,
# so for it only the full name is checked.
def fold(text: str) -> str:
    """The form identity strings are compared in: Unicode NFKC, case-folded (so NFC and NFD
    spellings, full-width letters and ligatures, and upper/lower case all match)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def decodings(data: bytes) -> list[str]:
    """The texts a file's bytes may hold: UTF-8 (or UTF-16 with a byte-order mark) and, for bytes
    that are not valid UTF-8, Latin-1 / Windows-1252 (every byte decodes)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return [data.decode("utf-16", "replace")]
    try:
        return [data.decode("utf-8")]
    except UnicodeDecodeError:
        pass
    out = [data.decode("utf-8", "replace"), data.decode("latin-1")]
    cp = data.decode("cp1252", "replace")
    return out if cp == out[1] else [*out, cp]


def _check_identity_not_in_rows(identity: dict[str, str], rows: list[dict[str, str]]) -> None:
    """Refuse a new name or e-mail that already stands in another participant's notes or group."""
    name, email = fold(identity.get("name", "").strip()), fold(identity.get("email", "").strip())
    needles = [("e-mail", _Needle(email, whole_word=False))] if email else []
    needles += [("name", _word(name))] if name else []
    for row in rows:
        for col in ("notes", "group"):
            text = fold(row.get(col, NA))
            kind = next((k for k, needle in needles if needle.found(text)), None)
            if kind:
                raise UserError(f"the new participant's {kind} stands in the {col} of {row['participant_id']} "
                                "in participants.tsv; remove it there first (notes must not identify anyone)")


_FORMAT_WORDS: frozenset[str] = frozenset(
    fold(w)
    for text in [*COLUMNS, json.dumps(SIDECAR), *TASKS, *MAIN_CATEGORY_LEVELS, *UNUSUAL_LEVELS,
                 "left", "right", "practice", "test", json.dumps(LAYOUT_COLUMNS)]
    for w in re.split(r"[\W_]+", text) if w
)



@dataclass(frozen=True)
class _Needle:
    """A case-folded identity string to look for, as a whole word or anywhere."""

    literal: str
    whole_word: bool = True

    def found(self, text: str) -> bool:
        """True if `text` (already case-folded) contains the string; a fast substring test first."""
        if self.literal not in text:
            return False
        if not self.whole_word:
            return True
        # Letters or digits must not continue the word on either side ('_' and punctuation may).
        return re.search(r"(?<![^\W_])" + re.escape(self.literal) + r"(?![^\W_])", text) is not None


def _word(s: str) -> _Needle:
    return _Needle(fold(s))


def _session_status(tsv: Path) -> str:
    """The session's status as participants.layout derives it (complete when every trial of the
    recorded order is on disk); the sidecar's word when the TSV cannot be read."""
    try:
        return read_session(tsv, drop_torn_tail=True).status
    except UserError:
        return str(read_sidecar(tsv).get("SessionStatus", "incomplete"))  # a sidecar not an object: UserError


def _complete_rows(tsv: Path) -> int:
    data = tsv.read_bytes()
    return max(data.count(b"\n") - 1, 0)


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def _check_state(state: Any, path: Path) -> dict[str, Any]:
    """The bookkeeping file as read: an object with counters >= 0; a UserError `FILE:KEY: ...` otherwise."""
    from labutil.validate import Invalid, check_int, expect_object, field, integer

    state = expect_object(state, str(path))
    where = str(path)
    field(state, "last_participant", where, integer(lo=0), default=0)
    sessions = field(state, "last_session", where, lambda v: v if isinstance(v, dict) else _invalid("not an object"), default={})
    for pid, n in sessions.items():
        try:
            check_int(n, lo=0)
        except Invalid as exc:
            raise UserError(f"{where}:last_session.{pid}: {exc}") from None
    field(state, "private_bound", where, lambda v: v if isinstance(v, bool) else _invalid("not true or false"), default=False)
    return state


def _invalid(message: str) -> Any:
    from labutil.validate import Invalid

    raise Invalid(message)


def _check_age(age: int | str | None) -> str:
    if age is None or age == "" or age == NA:
        return NA
    text = str(age).strip()
    if not re.fullmatch(r"[0-9]+", text) or not AGE_RANGE[0] <= int(text) <= AGE_RANGE[1]:
        raise UserError(f"--age '{age}': must be a whole number of years between {AGE_RANGE[0]} and {AGE_RANGE[1]}")
    return str(int(text))


def _check_level(option: str, value: str | None, levels: dict[str, str], optional: bool) -> str:
    if optional and (value is None or value in ("", NA)):
        return NA
    if value not in levels:
        flag = option.replace("_", "-")
        raise UserError(f"--{flag} '{value}': must be one of {', '.join(levels)}")
    return value


def _check_group(group: str | None) -> str:
    if group is None or group in ("", NA):
        return NA
    if not _GROUP.match(group):
        raise UserError(f"--group '{group}': use up to 32 letters, digits, '-', '_' or '.'")
    return group


def _check_text(option: str, value: str | None, limit: int, required: bool = False) -> str:
    value = "" if value is None else str(value).strip()
    if required and not value:
        raise UserError(f"--{option}: must not be empty")
    if any(c in value for c in "\t\r\n"):
        raise UserError(f"--{option}: must be one line without tabs")
    if len(value) > limit:
        raise UserError(f"--{option}: longer than {limit} characters")
    return value


def _check_notes(notes: str | None) -> str:
    text = _check_text("notes", notes, NOTES_MAX)
    if "@" in text:
        raise UserError("--notes: contains '@'; notes must not hold contact details")
    return text or NA


def _check_name(name: str | None) -> str:
    return _check_text("name", name, 120)


def _check_email(email: str | None) -> str:
    text = _check_text("email", email, 200)
    if text and not _EMAIL.match(text):
        raise UserError(f"--email '{text}': not an e-mail address")
    return text


def _check_date(option: str, value: dt.date | str | None, allow_future: bool = False) -> str:
    if value is None:
        return dt.date.today().isoformat()
    if isinstance(value, dt.date):
        date = value
    else:
        try:
            date = dt.date.fromisoformat(str(value))
        except ValueError:
            raise UserError(f"--{option} '{value}': not a date (YYYY-MM-DD)") from None
    if not allow_future and date > dt.date.today():
        raise UserError(f"--{option} {date.isoformat()}: lies in the future")
    return date.isoformat()


def _parse_tsv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Plain TSV reader (all cells text); a malformed row is a UserError naming file and row."""
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    if not raw:
        raise UserError(f"{path}: empty file (no header)")
    if not raw.endswith("\n"):
        raise UserError(f"{path}: row {raw.count(chr(10)) + 1}: truncated line (no line end)")
    lines = raw.split("\n")[:-1]
    header = lines[0].split("\t")
    rows = []
    for i, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise UserError(f"{path}: row {i}: {len(cells)} fields, expected {len(header)}")
        rows.append(dict(zip(header, cells)))
    return header, rows


def _format_tsv(header: list[str], rows: list[dict[str, str]]) -> str:
    lines = ["\t".join(header)] + ["\t".join(str(r.get(c, NA)) for c in header) for r in rows]
    return "\n".join(lines) + "\n"
