"""Author identity: which author strings name the same person, as pure rules (no database).

Authors are plain strings in every source ("Yoshua Bengio", "Y. Bengio", "Bengio, Yoshua").  Following an author
must find all of that person's papers and none of a namesake's.  The rule:

1. **Parse** a name into a surname and given-name tokens (:func:`parse`): accents, TeX accents, case and punctuation
   go; "Surname, Given" is turned around; particles ("van der", "de", "von") belong to the surname; suffixes ("Jr.",
   "III") are dropped; a hyphenated given name is one name ("Jean-Pierre": "J.-P." and "J." fit it, "Jean" does
   not, as "Wen" is not "Wen-Chin"); written with a space instead of the hyphen it is the same name.
2. **Block**: only names with the same surname and the same first given initial can be one person
   (``"bengio|y"``).  The store keeps each paper's (block, given) pairs, so a block is one index range.
3. **Fold** the given-name forms met in a block (:func:`fold`).  Two forms are *compatible* when, token by token,
   each pair is equal or one is the other's initial (missing trailing tokens are fine: "john" fits "john a", except
   a spelt-out name after an initial: "R. Bharat Rao" does not fit "Raghuveer Rao").
   Full forms (a spelt-out first name) are placed first, most specific first: a form joins the one person whose
   forms it is all compatible with, starts a new person when there is none, and stays on its own (ambiguous) when
   there are several ("John Smith" beside "John A. Smith" and "John B. Smith").  Initial forms ("y", "y j") are
   placed after: "Y. Bengio" joins "Yoshua Bengio" only when no other full first name in the corpus fits it (no
   "Yann Bengio" in the same block); otherwise it stays a person of its own, never merged by guess.

So a short form folds into a full one only while it is unambiguous in the corpus; when a namesake appears, the
short form stops folding (it is re-decided at every read, from the forms the corpus holds then).  Not handled:
nicknames (Bill/William), transliteration variants (Jurgen/Juergen), swapped given/surname order without a comma.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

_TEX_ACCENT = re.compile(r"\\[`'^\"~=.uvHckrb]\s*\{?\s*([A-Za-z])\s*\}?|\\(l|o|ss|ae|oe|aa|i|j|L|O|AE|OE|AA)\b\s*"
                         r"(?:\{\})?|\\[A-Za-z]+\s*|[{}$]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_HYPHENATED = re.compile(r"[^\W_]+(?:-[^\W_]+)*", re.UNICODE)  # "jean-pierre" stays one given name
_DASHES = re.compile(r"[\u2010-\u2015\u2212]")
_DOT_DASH = re.compile(r"\.\s*-\s*")  # "J.-P." -> "j-p"
PARTICLES = frozenset({"van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "le", "la", "dos", "das",
                       "ter", "ten", "bin", "ibn", "al", "el", "zu", "st", "mac"})
SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})
_UNDECOMPOSED = str.maketrans({"ł": "l", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "đ": "d", "ı": "i", "þ": "th"})
MAX_NAME = 200  # longer strings are not names


@dataclass(frozen=True, slots=True)
class Name:
    """A parsed author name: ``surname`` (particles joined in) and the given-name tokens, all normalised."""

    surname: str
    given: tuple[str, ...]

    @property
    def block(self) -> str:
        """Names outside one block are never one person: surname and first initial ("bengio|y")."""
        return f"{self.surname}|{self.given[0][0] if self.given else ''}"

    @property
    def form(self) -> str:
        """The given names as stored beside the block ("yoshua", "y j")."""
        return " ".join(self.given)


def _plain(text: str) -> str:
    text = _TEX_ACCENT.sub(lambda m: m.group(1) or m.group(2) or " ", text)
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.lower().translate(_UNDECOMPOSED)


@functools.lru_cache(maxsize=65536)
def parse(name: str) -> Name | None:
    """The parsed name, or None when there is nothing name-like in the string."""
    name = (name or "")[:MAX_NAME]
    parts = [p for p in name.split(",") if not set(_WORD.findall(_plain(p))) <= SUFFIXES]  # ", Jr." is no part
    if len(parts) > 2 or (len(parts) == 2 and min(len(_WORD.findall(_plain(p))) for p in parts) > 1):
        return None  # a list of names in one string ("Hao Zhang, Kai Xu"): nobody can follow that as one person
    if len(parts) == 2:  # "Bengio, Yoshua"
        name = f"{parts[1]} {parts[0]}"
    elif parts:
        name = parts[0]
    text = _DOT_DASH.sub("-", _DASHES.sub("-", _plain(name)))
    words = [w for w in _HYPHENATED.findall(text) if w not in SUFFIXES]
    if not words:
        return None
    cut = len(words) - 1  # the surname starts at the last word, or earlier at a run of particles before it
    while cut > 1 and words[cut - 1] in PARTICLES:
        cut -= 1
    return Name("".join(words[cut:]).replace("-", ""), tuple(words[:cut]))


def _token_fits(x: str, y: str) -> bool:
    """One given name against another: equal, an initial of it ("j" fits "jean-pierre"), or hyphenated parts that
    fit part by part ("j-p" fits "jean-pierre"); "wen" does not fit "wen-chin" (a different given name)."""
    if x == y or (len(x) == 1 and y.startswith(x)) or (len(y) == 1 and x.startswith(y)):
        return True
    xs, ys = x.split("-"), y.split("-")
    return len(xs) == len(ys) > 1 and all(a == b or (len(a) == 1 and b.startswith(a)) or
                                          (len(b) == 1 and a.startswith(b)) for a, b in zip(xs, ys, strict=True))


def compatible(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether two given-name token lists can be the same person's ("y j" fits "yoshua", not "yann b" vs "yann c").
    Spelling a hyphenated name with a space is the same name ("ya-cheng" = "ya cheng")."""
    if "-".join(a) == "-".join(b):
        return True
    longer = a if len(a) > len(b) else b
    if not _full(longer[0]) and any(map(_full, longer[min(len(a), len(b)):])):
        return False  # "R. Bharat Rao" goes by Bharat: a missing spelt-out name is no match for "Raghuveer Rao"
    return all(_token_fits(x, y) for x, y in zip(a, b, strict=False))


def _full(token: str) -> bool:
    """Whether a given name is spelt out ("yoshua", "jean-pierre"), not initials ("y", "j-p")."""
    return any(len(part) > 1 for part in token.split("-"))


def _specificity(form: tuple[str, ...]) -> tuple:
    return (-sum(map(_full, form)), -len(form), -sum(map(len, form)), form)


def fold(forms: Iterable[str]) -> dict[str, str]:
    """Each given-name form of one block mapped to its person's representative form (the most specific one).

    Forms that fit several people, or none of the given names, map to themselves (see the module's rule)."""
    parsed = sorted({tuple(f.split()) for f in forms}, key=_specificity)
    people: list[list[tuple[str, ...]]] = []
    out: dict[str, str] = {}
    for form in parsed:
        if not form:
            out[""] = ""
            continue
        fits = [p for p in people if all(compatible(form, member) for member in p)]
        if len(fits) == 1:
            fits[0].append(form)
            continue
        if not fits:  # a new person (initials too, when no full name in the block fits them)
            people.append([form])
        out[" ".join(form)] = " ".join(form)  # a person's first form, or ambiguous between several people
    for person in people:
        head = " ".join(person[0])
        for member in person:
            out[" ".join(member)] = head
    return out


def same_person(form: str, forms: Iterable[str]) -> set[str]:
    """The forms of a block that name the same person as ``form`` (itself included), given the forms the corpus
    holds in that block; an ambiguous ``form`` matches only itself."""
    folded = fold([*forms, form])
    head = folded[" ".join(form.split())]
    return {k for k, v in folded.items() if v == head}


def keys(authors: Iterable[str]) -> set[tuple[str, str]]:
    """The (block, form) pairs of a paper's author strings, as the store indexes them."""
    out = set()
    for author in authors:
        parsed = [parse(author)]
        if parsed[0] is None and "," in author:  # a whole author list in one string: index each name
            parsed = [parse(part) for part in author.split(",")]
        out.update((p.block, p.form) for p in parsed if p is not None)
    return out


_VENUE_YEAR = re.compile(r"\d")


def venue_key(journal_ref: str | None) -> str | None:
    """A venue's follow key: the words of a journal reference before its first number ("ICLR 2024" and "ICLR
    2025" are both ``iclr``; "Phys. Rev. D 12, 345 (2019)" is ``phys rev d``); None when nothing is left."""
    if not journal_ref:
        return None
    words = []
    for word in _WORD.findall(_plain(journal_ref[:MAX_NAME])):
        if _VENUE_YEAR.search(word):
            break
        words.append(word)
    return " ".join(words) or None
