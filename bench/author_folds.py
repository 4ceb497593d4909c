"""Measure the author identity rule (paperboy.library.authors) on a real corpus: how many distinct author strings
fold into how many authors, which folds are of which kind, and a random sample of folds to check by hand.

For each sampled fold it prints both strings, their paper counts and the co-authors they share (evidence for the
hand check: the same person usually shares co-authors or venues across spellings).

Run: ``python bench/author_folds.py [../shared/datasets/paperlists/papers.jsonl.gz] [--sample 20] [--seed 12]``.
"""

from __future__ import annotations

import argparse
import gzip
import random
from collections import Counter, defaultdict

import orjson

from paperboy.library.authors import _full, compatible, fold, parse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", nargs="?", default="../shared/datasets/paperlists/papers.jsonl.gz")
    ap.add_argument("--sample", type=int, default=20)
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()

    papers_of: dict[str, int] = Counter()
    coauthors: dict[str, set[str]] = defaultdict(set)
    venues: dict[str, set[str]] = defaultdict(set)
    with gzip.open(args.path, "rb") as fh:
        for line in fh:
            rec = orjson.loads(line)
            names = [a for a in rec.get("authors") or [] if a.strip()]
            for a in names:
                papers_of[a] += 1
                venues[a].add(f"{rec.get('venue')}{rec.get('year')}")
                coauthors[a].update(n for n in names if n != a)

    by_key: dict[tuple[str, str], list[str]] = defaultdict(list)  # (block, form) -> raw strings
    unparsed = 0
    for s in papers_of:
        name = parse(s)
        if name is None:
            unparsed += 1
            continue
        by_key[(name.block, name.form)].append(s)
    blocks: dict[str, list[str]] = defaultdict(list)
    for block, form in by_key:
        blocks[block].append(form)

    person: dict[str, tuple[str, str]] = {}  # raw string -> (block, representative form)
    ambiguous_initials = 0  # initial forms kept apart because two or more full names of the block fit them
    for block, forms in blocks.items():
        folded = fold(forms)
        heads = {h for f, h in folded.items() if f == h and h and _full(h.split()[0])}
        for form, head in folded.items():
            if form == head and form and not _full(form.split()[0]):
                fitting = [h for h in heads if compatible(tuple(form.split()), tuple(h.split()))]
                ambiguous_initials += len(fitting) >= 2
            for s in by_key[(block, form)]:
                person[s] = (block, head)

    people = set(person.values())
    normalised_only = sum(len(v) - 1 for v in by_key.values())
    print(f"distinct author strings: {len(papers_of):,} (unparseable: {unparsed})")
    print(f"distinct normalised (block, given-name form) keys: {len(by_key):,}  "
          f"(case/accent/punctuation/order variants folded: {normalised_only:,})")
    print(f"authors after the identity rule: {len(people):,}  "
          f"(strings folded into another string's author: {len(papers_of) - unparsed - len(people):,})")
    members = Counter(person.values())
    multi = sum(1 for n in members.values() if n > 1)
    initial_folds = sum(1 for s, (_b, h) in person.items() if (p := parse(s)) and p.form != h and p.given
                        and not _full(p.given[0]))
    print(f"authors with 2+ strings: {multi:,}; strings whose initial-only first name "
          f"folded into a full name: {initial_folds:,}; initial forms left alone because 2+ full names fit: "
          f"{ambiguous_initials:,}")

    folds = [(s, person[s]) for s in person if members[person[s]] > 1]
    rep_of: dict[tuple[str, str], str] = {}
    for s, key in folds:
        if key not in rep_of or papers_of[s] > papers_of[rep_of[key]]:
            rep_of[key] = s
    candidates = sorted({(s, rep_of[key]) for s, key in folds if s != rep_of[key]})
    rng = random.Random(args.seed)
    print(f"\nrandom sample of {args.sample} folds (string -> the author's most used string):")
    for s, rep in rng.sample(candidates, min(args.sample, len(candidates))):
        shared = coauthors[s] & coauthors[rep]
        both = venues[s] & venues[rep]
        print(f"  {s!r} ({papers_of[s]}) -> {rep!r} ({papers_of[rep]}); shared co-authors: {len(shared)}"
              f"{' e.g. ' + repr(sorted(shared)[0]) if shared else ''}; shared venue-years: {len(both)}")


if __name__ == "__main__":
    main()
