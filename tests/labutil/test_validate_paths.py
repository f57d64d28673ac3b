"""labutil.validate and labutil.paths: the shared checks say what is wrong and refuse what they must."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from labutil.errors import ArgumentParser, UserError
from labutil.io import read_json, read_json_object, read_toml
from labutil.paths import check_output_dir, check_output_file, child, contained, frozen_set_of, refuse_escaping_links
from labutil.validate import (
    Invalid,
    check_number,
    check_template,
    expect_object,
    field,
    int_list,
    non_negative_int,
    parse_float,
    parse_int,
    positive_int,
)


@pytest.mark.parametrize("text, value", [("0", 0), ("17", 17), ("-3", -3), ("+4", 4), (" 5 ", 5)])
def test_parse_int_takes_ascii_integers(text: str, value: int) -> None:
    assert parse_int(text) == value


@pytest.mark.parametrize("text", ["\u0661\u0662", "\uff13\uff10", "1.5", "", "1e3", "nan", "0x10", "٣"])
def test_parse_int_refuses_what_int_would_take_or_is_no_integer(text: str) -> None:
    with pytest.raises(Invalid):
        parse_int(text)


def test_parse_int_bounds_name_the_range() -> None:
    with pytest.raises(Invalid, match=r"-1 is out of range \(an integer >= 0\)"):
        parse_int("-1", lo=0)
    assert parse_int("10", lo=0, hi=10) == 10


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "x", "1,5"])
def test_parse_float_refuses_non_finite_and_text(text: str) -> None:
    with pytest.raises(Invalid):
        parse_float(text)


def test_check_number_open_lower_bound_and_bool() -> None:
    assert check_number(0.5, lo=0, lo_open=True) == 0.5
    with pytest.raises(Invalid):
        check_number(0, lo=0, lo_open=True)
    with pytest.raises(Invalid):
        check_number(True)


def test_option_types_become_one_error_line() -> None:
    p = ArgumentParser(prog="prog")
    p.add_argument("--n", type=positive_int)
    p.add_argument("--k", type=non_negative_int)
    assert p.parse_args(["--n", "3", "--k", "0"]) == argparse.Namespace(n=3, k=0)
    with pytest.raises(UserError, match=r"prog: argument --n: 0 is out of range \(an integer >= 1\)"):
        p.parse_args(["--n", "0"])
    with pytest.raises(UserError, match="argument --k: not an integer"):
        p.parse_args(["--k", "\u0661"])


def test_field_names_file_and_key() -> None:
    obj = {"TrialOrder": "1234", "ok": [1, 2]}
    assert field(obj, "ok", "side.json", int_list(unique=True)) == [1, 2]
    with pytest.raises(UserError, match=r"^side.json:TrialOrder: a string, not a list of integers$"):
        field(obj, "TrialOrder", "side.json", int_list())
    with pytest.raises(UserError, match="^side.json:missing: missing$"):
        field(obj, "missing", "side.json", int_list())
    assert field(obj, "missing", "side.json", int_list(), default=None) is None
    with pytest.raises(UserError, match="2 occurs twice"):
        field({"o": [1, 2, 2]}, "o", "f", int_list(unique=True))
    with pytest.raises(UserError, match="not an object but a list"):
        expect_object([1], "run.json")


@pytest.mark.parametrize("text", ["Press {left} or {right. Go", "Answer { then", "Go } now", "{left.upper}", "{0}",
                                  "{}", "{left!r}", "{left:>5}", "{unknown}"])
def test_check_template_refuses_what_format_would_crash_on_or_misread(text: str) -> None:
    with pytest.raises(Invalid):
        check_template(text, {"left", "right"})


def test_check_template_keeps_good_texts() -> None:
    text = "Press {left} or {right}; braces {{like this}}"
    assert check_template(text, {"left", "right"}) == text
    assert text.format(left="F", right="J") == "Press F or J; braces {like this}"


def test_readers_name_file_and_problem(tmp_path: Path) -> None:
    torn = tmp_path / "torn.json"
    torn.write_text('{"a": [1, 2')
    with pytest.raises(UserError, match="looks truncated"):
        read_json(torn)
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(UserError, match="not UTF-8 text"):
        read_json(bad)
    lst = tmp_path / "list.json"
    lst.write_text("[1]")
    with pytest.raises(UserError, match="not an object"):
        read_json_object(lst)
    toml = tmp_path / "x.toml"
    toml.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(UserError, match="not UTF-8 text"):
        read_toml(toml)


def test_contained_and_child(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    assert contained(root / "a" / "b", root, "x") == (root / "a" / "b").resolve()
    with pytest.raises(UserError, match="lies outside"):
        contained(root / ".." / "outside", root, "x")
    (root / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(UserError, match="lies outside"):
        contained(root / "link" / "f", root, "x")
    with pytest.raises(UserError, match="symbolic link"):
        child(root, "link", "--name")
    for name in ("../x", "a/b", "..", ".hidden", ""):
        with pytest.raises(UserError, match="not a safe name"):
            child(root, name, "--name")
    assert child(root, "set-1", "--name") == root / "set-1"


def test_refuse_escaping_links(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "sub-001").mkdir(parents=True)
    (root / "sub-001" / "a.tsv").write_text("x\n")
    (root / "inside").symlink_to(root / "sub-001" / "a.tsv")
    refuse_escaping_links(root, "data root")  # a link that stays inside is fine
    (tmp_path / "secret").write_text("s\n")
    (root / "sub-001" / "b.tsv").symlink_to(tmp_path / "secret")
    with pytest.raises(UserError, match="pointing outside"):
        refuse_escaping_links(root, "data root")


def test_output_checks(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is not a folder"):
        check_output_dir(tmp_path / "file", "--out")
    with pytest.raises(UserError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "file" / "deeper" / "out", "--out")
    assert check_output_dir(tmp_path / "new" / "out", "--out") == tmp_path / "new" / "out"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(UserError, match="is a folder, not a file"):
        check_output_file(tmp_path / "dir.png", "--out")
    s = tmp_path / "sets" / "a"
    s.mkdir(parents=True)
    (s / "set.json").write_text("{}")
    assert frozen_set_of(s / "images" / "x.png") == s.resolve()
    with pytest.raises(UserError, match="frozen"):
        check_output_file(s / "sheet.png", "--out")
    with pytest.raises(UserError, match="frozen"):
        check_output_dir(s / "ddd", "--out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_folder_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(UserError, match="not writable"):
            check_output_dir(ro, "--out")
        with pytest.raises(UserError, match="not writable"):
            check_output_dir(ro / "new", "--out")
    finally:
        ro.chmod(0o755)
