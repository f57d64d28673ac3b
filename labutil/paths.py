"""Containment of the paths a command writes or reads: inside their root, no symlink leaving it,
never into a frozen stimulus set, and output targets checked before any work starts.

Every check raises a one-line UserError naming the path; none of them creates anything.
"""

from __future__ import annotations

import os
from pathlib import Path

from labutil.errors import UserError

#: a folder holding this file is a frozen stimulus set (stimuli.sets.SET_FILE): nothing is written into it
FROZEN_MARKER = "set.json"


def contained(path: str | Path, root: str | Path, what: str) -> Path:
    """`path` resolved (symlinks followed), refused unless it lies inside the resolved `root`."""
    root_abs = Path(root).resolve()
    resolved = Path(path).resolve()
    if resolved != root_abs and root_abs not in resolved.parents:
        raise UserError(f"{path}: {what} lies outside {root} (resolves to {resolved})")
    return resolved


def child(root: str | Path, name: str, what: str) -> Path:
    """`root / name` for a single safe name, checked to stay inside `root` after resolving links."""
    from labutil.validate import check_name

    check_name(name, what)
    path = Path(root) / name
    if path.is_symlink():
        raise UserError(f"{path}: {what} is a symbolic link (to {os.readlink(path)}); refusing to follow it")
    contained(path, root, what)
    return path


def refuse_escaping_links(root: str | Path, what: str) -> None:
    """Refuse a tree under `root` holding a symbolic link whose target lies outside `root` (or dangles)."""
    root = Path(root)
    root_abs = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                continue
            target = p.resolve()
            if not target.exists() or (target != root_abs and root_abs not in target.parents):
                raise UserError(f"{p}: symbolic link in the {what} pointing outside it (to {os.readlink(p)}); "
                                "remove it or replace it by the file itself")


def frozen_set_of(path: str | Path) -> Path | None:
    """The stimulus set folder that `path` (resolved) lies in or is, if any."""
    p = Path(path).resolve()
    for folder in (p, *p.parents):
        if (folder / FROZEN_MARKER).is_file():
            return folder
    return None


def refuse_frozen(path: str | Path, what: str) -> None:
    """Refuse to write `path` inside (or as) a frozen stimulus set."""
    frozen = frozen_set_of(path)
    if frozen is not None:
        raise UserError(f"{path}: {what} lies inside the stimulus set {frozen}, which is frozen; write it elsewhere")


def _nearest_existing(path: Path) -> Path:
    p = Path(os.path.abspath(path))
    while not os.path.lexists(p):
        p = p.parent
    return p


def check_output_dir(path: str | Path, what: str) -> Path:
    """Refuse an output folder that is not a folder, cannot be created or is not writable, or lies
    in a frozen set; checked before any work, so a long run never fails at its end. Creates nothing."""
    path = Path(path)
    refuse_frozen(path, what)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise UserError(f"{path}: {what} is not a folder" + (" (a file)" if path.is_file() else ""))
        if not os.access(path, os.W_OK | os.X_OK):
            raise UserError(f"{path}: {what} is not writable (permission denied)")
        return path
    base = _nearest_existing(path)
    if not base.is_dir():
        raise UserError(f"{path}: {what} cannot be created: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UserError(f"{path}: {what} cannot be created: {base} is not writable (permission denied)")
    return path


def check_output_file(path: str | Path, what: str) -> Path:
    """Refuse an output file whose path is a folder, or whose folder fails check_output_dir."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: {what} is a folder, not a file")
    if path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
        raise UserError(f"{path}: {what} cannot be replaced: {path.parent} is not writable (permission denied)")
    check_output_dir(path.parent, f"folder of the {what}")
    refuse_frozen(path, what)
    return path
