"""The registry's privacy and numbering rules, each checked where a wrong program would pass:
a data root anywhere below the private folder, a private folder (or a file in it) owned by
someone else, and session numbers when the state file lags behind the data tree."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from labutil.errors import UserError
from participants.registry import Registry

NAME = "Ada Lovelace"


@pytest.mark.parametrize("below", ["lab_data", "a/b/lab_data"])
def test_a_data_root_inside_the_private_folder_is_refused(private_root: Path, below: str) -> None:
    private_root.mkdir(mode=0o700)
    with pytest.raises(UserError, match="lies inside the private folder"):
        Registry(private_root / below, private_root)
    assert list(private_root.iterdir()) == []


def _owned_by_someone_else(path: Path) -> None:
    """Give `path` another owner (nobody); only root may."""
    if os.getuid() != 0:
        pytest.skip("giving a file another owner needs root")
    os.chown(path, 65534, -1, follow_symlinks=False)


@pytest.mark.parametrize("which", ["folder", "file"])
def test_a_private_folder_or_file_of_another_owner_is_refused(data_root: Path, private_root: Path, which: str,
                                                             snapshot) -> None:
    reg = Registry(data_root, private_root)
    pid = reg.register(cnn_familiarity="naive", name=NAME)
    target = private_root if which == "folder" else private_root / "identities.tsv"
    _owned_by_someone_else(target)
    before = snapshot()
    with pytest.raises(UserError, match="belongs to another user"):
        reg.record_consent(pid, "2024-01-01", "v1")
    with pytest.raises(UserError, match="belongs to another user"):
        reg.register(cnn_familiarity="naive", name="Grace Hopper")
    assert snapshot() == before


def test_session_numbers_follow_the_data_tree_when_the_state_file_lags(data_root: Path) -> None:
    """State says 2 sessions, the tree holds ses-04 (e.g. the state file restored from a backup):
    the next session is 5, and a claimed 3 changes nothing."""
    reg = Registry(data_root)
    pid = reg.register(cnn_familiarity="naive")
    assert reg.next_session(pid) == 1 and reg.next_session(pid) == 2
    (data_root / pid / "ses-04" / "beh").mkdir(parents=True)
    state = json.loads((data_root / ".registry.json").read_text())
    assert state["last_session"][pid] == 2
    reg.claim_session(pid, 3)
    assert reg.next_session(pid) == 5
    assert reg.next_session(pid) == 6
