"""Names are compared after NFKC normalisation and case folding, in UTF-8, UTF-16 and Latin-1
files; a new identity that already stands in another participant's notes is refused at write time."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from labutil.errors import UserError
from participants.export import export_data
from participants.registry import Registry, fold

NAME, EMAIL = "Jürgen Müller", "j.mueller@example.org"


def _registry(data_root: Path, private_root: Path) -> Registry:
    reg = Registry(data_root, private_root)
    reg.register(cnn_familiarity="naive", name=NAME, email=EMAIL)
    return reg


def test_fold_makes_nfc_nfd_case_and_compatibility_forms_equal() -> None:
    nfc, nfd = unicodedata.normalize("NFC", NAME), unicodedata.normalize("NFD", NAME)
    assert nfc != nfd and len(nfd) == len(nfc) + 2  # two combining diaereses
    assert fold(nfc) == fold(nfd) == fold(NAME.upper()) == "jürgen müller"
    assert fold("Ｊürgen") == fold("Jürgen")  # full-width J (NFKC)
    assert fold("Straße") == fold("STRASSE")


@pytest.mark.parametrize("form", ["nfc", "nfd", "latin-1", "cp1252", "utf-16", "upper-nfd"])
def test_export_refuses_a_name_in_every_form(form: str, tmp_path: Path) -> None:
    data, private = tmp_path / "lab_data", tmp_path / "lab_private"
    reg = _registry(data, private)
    beh = data / "sub-001" / "ses-01" / "beh"
    beh.mkdir(parents=True)
    text = f"observer: {NAME}\n"
    raw = {"nfc": unicodedata.normalize("NFC", text).encode(), "nfd": unicodedata.normalize("NFD", text).encode(),
           "latin-1": text.encode("latin-1"), "cp1252": text.encode("cp1252"), "utf-16": text.encode("utf-16"),
           "upper-nfd": unicodedata.normalize("NFD", text.upper()).encode()}[form]
    (beh / "note.txt").write_bytes(raw)
    with pytest.raises(UserError, match="contains the registered name of sub-001"):
        export_data(reg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_latin1_name_parts_are_found_and_other_names_pass(tmp_path: Path) -> None:
    data, private = tmp_path / "lab_data", tmp_path / "lab_private"
    reg = _registry(data, private)
    folder = tmp_path / "scan"
    folder.mkdir()
    (folder / "part.txt").write_bytes("observer: Jürgen Maier\n".encode("latin-1"))
    (folder / "other.txt").write_bytes("observer: Jurgen Mueller\n".encode("latin-1"))  # no umlaut: another name
    (folder / "mail.txt").write_bytes("J.MUELLER@EXAMPLE.ORG\n".encode("utf-16"))
    leaks = {leak.path.name: leak.kind for leak in reg.find_identity_leaks(folder)}
    assert leaks == {"part.txt": "name part", "mail.txt": "email"}


def test_notes_with_the_name_in_nfd_are_refused_at_registration(tmp_path: Path) -> None:
    data, private = tmp_path / "lab_data", tmp_path / "lab_private"
    reg = _registry(data, private)
    before = reg.tsv.read_bytes()
    with pytest.raises(UserError, match="--notes contains a registered name"):
        reg.register(cnn_familiarity="naive", notes=f"came with {unicodedata.normalize('NFD', NAME.upper())}")
    assert reg.tsv.read_bytes() == before


@pytest.mark.parametrize("identity, kind", [({"name": unicodedata.normalize("NFD", "Eva Brandt")}, "name"),
                                            ({"email": "EVA.B@example.org"}, "e-mail")])
def test_an_identity_already_in_anothers_notes_is_refused(tmp_path: Path, identity: dict, kind: str) -> None:
    data, private = tmp_path / "lab_data", tmp_path / "lab_private"
    reg = Registry(data, private)
    reg.register(cnn_familiarity="naive", notes="brought by her friend Eva Brandt")  # nobody registered yet
    reg.register(cnn_familiarity="naive", notes="contact eva.b at example org")
    with open(reg.tsv, "a", encoding="utf-8") as fh:  # an e-mail hand-edited into the table
        fh.write("sub-003\tn/a\tn/a\tn/a\tnaive\tn/a\tsee eva.b@example.org\t2026-01-01\n")
    reg.state_path.write_text(reg.state_path.read_text().replace('"last_participant": 2', '"last_participant": 3'))
    before = {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()}
    with pytest.raises(UserError, match=f"new participant's {kind} stands in the notes of sub-00"):
        reg.register(cnn_familiarity="naive", **identity)
    assert {p.name: p.read_bytes() for p in data.iterdir() if p.is_file() and p.name != ".registry.lock"} == {
        k: v for k, v in before.items() if k != ".registry.lock"}
    assert not (private / "identities.tsv").exists()
    reg.register(cnn_familiarity="naive", name="Eva Braun")  # another name is fine
