"""The author identity rule (paperboy.library.authors), on plain data."""

from __future__ import annotations

import pytest

from paperboy.library.authors import compatible, fold, keys, parse, same_person, venue_key


@pytest.mark.parametrize(("name", "surname", "given"), [
    ("Yoshua Bengio", "bengio", ("yoshua",)),
    ("Y. Bengio", "bengio", ("y",)),
    ("Bengio, Yoshua", "bengio", ("yoshua",)),
    ("Laurens van der Maaten", "vandermaaten", ("laurens",)),
    ("L. van der Maaten", "vandermaaten", ("l",)),
    ("Jean-Pierre Serre", "serre", ("jean-pierre",)),
    ("J.-P. Serre", "serre", ("j-p",)),
    ("Li–Chen Fu", "fu", ("li-chen",)),
    ("M. Alencastre-Miranda", "alencastremiranda", ("m",)),
    ("Martin Luther King, Jr.", "king", ("martin", "luther")),
    ("João F. Henriques", "henriques", ("joao", "f")),
    ("Stanis\\l{}aw Szymanowicz", "szymanowicz", ("stanislaw",)),
    ("Ren\\'{e} Vidal", "vidal", ("rene",)),
    ("Łukasz Kaiser", "kaiser", ("lukasz",)),
    ("Di Wang", "wang", ("di",)),
    ("Plato", "plato", ()),
])
def test_names_parse_into_surname_and_given_names(name, surname, given):
    parsed = parse(name)
    assert parsed is not None and (parsed.surname, parsed.given) == (surname, given)


def test_nothing_name_like_is_no_name():
    assert parse("") is None and parse(" .,- ") is None
    assert parse("Hao Zhang, Kai Xu, Wei Jiang") is None and parse("Hao Zhang, Kai Xu") is None  # lists of names


def test_initials_fit_full_names_and_different_names_do_not():
    assert compatible(("y",), ("yoshua",)) and compatible(("yoshua", "j"), ("yoshua",))
    assert compatible(("j-p",), ("jean-pierre",)) and compatible(("j",), ("jean-pierre",))
    assert compatible(("ya-cheng",), ("ya", "cheng"))  # the hyphen written as a space
    assert not compatible(("r", "bharat"), ("raghuveer",))  # goes by the middle name
    assert compatible(("nathaniel", "moore"), ("nathaniel",))
    assert not compatible(("wen",), ("wen-chin",))  # a different given name, not a middle name
    assert not compatible(("yoshua",), ("yann",)) and not compatible(("john", "a"), ("john", "b"))


def test_a_short_form_folds_into_the_one_full_form_that_fits():
    assert same_person("y", ["yoshua", "y", "yoshua j"]) == {"y", "yoshua", "yoshua j"}
    assert same_person("yoshua", ["yoshua", "y"]) == {"yoshua", "y"}


def test_a_short_form_shared_by_two_people_is_never_merged():
    """Yoshua and Yann Bengio: "Y. Bengio" could be either, so it stays on its own, and neither full name takes it."""
    forms = ["yoshua", "yann", "y"]
    assert same_person("y", forms) == {"y"}
    assert same_person("yoshua", forms) == {"yoshua"}
    assert same_person("yann", forms) == {"yann"}


def test_middle_initials_separate_people_and_a_bare_name_between_them_stays_alone():
    folded = fold(["john a", "john b", "john", "john andrew", "j"])
    assert folded["john a"] == folded["john andrew"] != folded["john b"]
    assert folded["john"] == "john" and folded["j"] == "j"


def test_initials_alone_are_one_person():
    assert same_person("y", ["y", "y j"]) == {"y", "y j"}


def test_keys_are_block_and_form():
    assert keys(["Yoshua Bengio", "Y. Bengio", "Aaron Courville", ""]) == {
        ("bengio|y", "yoshua"), ("bengio|y", "y"), ("courville|a", "aaron")}
    assert keys(["Hao Zhang, Kai Xu, Wei Jiang"]) == {("zhang|h", "hao"), ("xu|k", "kai"), ("jiang|w", "wei")}


def test_venue_keys_drop_the_year_and_numbers():
    assert venue_key("ICLR 2024") == venue_key("iclr 2025") == venue_key("ICLR") == "iclr"
    assert venue_key("Phys. Rev. D 12, 345 (2019)") == "phys rev d"
    assert venue_key("2024") is None and venue_key(None) is None
