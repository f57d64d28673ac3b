"""A shareable copy of a lab data root, checked to contain no registered identity."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from labutil.errors import DISK_FULL, DiskFull, UserError
from labutil.io import fsync_dir, make_temp_dir, raise_if_disk_full, remove_leftovers
from labutil.paths import check_output_dir, refuse_escaping_links
from participants.registry import Registry


def _hidden(_dir: str, names: list[str]) -> list[str]:
    """Bookkeeping, lock and temporary files (dot files) stay behind."""
    return [n for n in names if n.startswith(".")]


_TEXT_SUFFIXES = (".tsv", ".json", ".log", ".txt", ".csv")


def _require_text(copy: Path, root: Path) -> None:
    """Refuse text files that are not UTF-8 (every format here is UTF-8): such a file is damaged
    or not ours, and is never exported. Runs after the identity scan, which reads every encoding."""
    for path in sorted(copy.rglob("*")):
        if path.suffix in _TEXT_SUFFIXES and path.is_file():
            try:
                path.read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UserError(f"{root / path.relative_to(copy)}: not UTF-8 text (byte {exc.start}); "
                                "nothing exported") from None


def _disk_full_text(message: str) -> bool:
    return any(f"[Errno {code}]" in message for code in DISK_FULL)


def export_data(registry: Registry, out_dir: Path) -> int:
    """Copy participants.tsv/json and every sub-*/ folder to `out_dir`, refuse if any copied file
    names a registered person; returns the number of files exported. Nothing is left on failure."""
    out_dir = Path(out_dir)
    root = registry.root
    if not registry.tsv.is_file():
        raise UserError(f"{registry.tsv}: file not found (nothing registered in {root})")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UserError(f"{out_dir} already exists and is not an empty folder")
    out_abs, root_abs = out_dir.resolve(), root.resolve()
    if out_abs == root_abs or root_abs in out_abs.parents:
        raise UserError(f"{out_dir} lies inside the data root {root}; export elsewhere")
    if not registry.identity_check_possible():
        raise UserError(f"identities of {root} were recorded in a private folder that is not at "
                        f"{registry.private_root}; pass --private-root so the export can be checked")
    check_output_dir(out_dir.parent, "folder of OUT_DIR")
    refuse_escaping_links(root, "data root")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out_dir.parent, legacy=False)  # the temporary folders of killed exports
    tmp = make_temp_dir(out_dir)
    try:
        try:
            for name in ("participants.tsv", "participants.json"):
                if (root / name).is_file():
                    shutil.copy2(root / name, tmp / name)
            for sub in sorted(root.glob("sub-*")):
                if sub.is_dir():
                    shutil.copytree(sub, tmp / sub.name, ignore=_hidden)
        except shutil.Error as exc:  # copytree gathers the failures of its files
            if any(_disk_full_text(str(why)) for _, _, why in exc.args[0]):
                raise DiskFull(f"{out_dir}: could not be written: no space left on device (or quota exceeded); "
                               "nothing exported (free some space and run the command again)") from None
            raise
        except OSError as exc:
            raise_if_disk_full(exc, out_dir)
            raise
        leaks = registry.find_identity_leaks(tmp)
        if leaks:
            first = leaks[0]
            more = f" (and {len(leaks) - 1} more file(s))" if len(leaks) > 1 else ""
            raise UserError(f"{root / first.path.relative_to(tmp)} contains the registered {first.kind} of "
                            f"{first.participant_id}{more}; nothing exported")
        _require_text(tmp, root)
        n_files = sum(1 for p in tmp.rglob("*") if p.is_file())
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
        fsync_dir(out_dir.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return n_files
