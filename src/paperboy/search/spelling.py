"""Telling a reader when the words found nothing, and suggesting a spelling from the index's own vocabulary.

Nonsense (``zzzzqqqxxyy``) and typos (``grpah nueral netwroks``) used to get confident junk: the dense side
always returns its nearest papers, and "about N results" came from the nearest neighbours.  Two signals, both
general: no query word occurs in the index at all (the BM25 side found nothing), or most of the query's words are
rare in the index (at most :func:`rare_df` papers use them) while a word one edit away is common.  A word the
index has never seen gets a suggestion even when the others match (``dark mattter halo``), without a notice.

Suggestions are one edit away (delete, transpose, replace, insert a letter: Norvig's ``edits1``), scored by the
document frequency of the edited word's index term in the tantivy index, so the vocabulary is the corpus'
own and no word list is shipped.  Only alphabetic words of four letters or more are respelt.  Two guards keep
suggestions honest: the index holds stems, so a candidate must also be *seen as written* in a paper that uses
its stem (``numeral`` shares the stem ``numer`` with ``numerical`` but is rarely written); and a word the index
already holds is only respelt when the alternative is used by :data:`GAIN_IF_KNOWN` times more papers (``bert``
stays ``bert`` in a physics corpus where ``best`` is common).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paperboy.index.lexical import analyze
from paperboy.search.parse import ParsedQuery

NO_MATCH = "No papers match these words; showing the closest by meaning."
NO_MATCH_LEXICAL = "No papers match these words."
FEW_MATCH = "Few papers use these words, so these results are loose matches."
MIN_WORD = 4
MIN_SUGGESTED_DF = 3  # a respelling of an unknown word must be used by at least this many papers
GAIN_IF_KNOWN = 1000  # a word the index holds: the respelling must be used by this many times more papers
SEEN_TRIES = 5  # candidates (most used first) checked against the papers' own text


def rare_df(num_docs: int) -> int:
    """At most this many papers use a "rare" word: 2, or one in 50,000 papers on large indexes."""
    return max(2, num_docs // 50_000)


def edits1(word: str) -> set[str]:
    """Every string one delete, transpose, replace or insert (a-z) away from ``word``."""
    letters = string.ascii_lowercase
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = [a + b[1:] for a, b in splits if b]
    transposes = [a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1]
    replaces = [a + c + b[1:] for a, b in splits if b for c in letters]
    inserts = [a + c + b for a, b in splits for c in letters]
    return set(deletes + transposes + replaces + inserts) - {word}


def respell(word: str, df: int, lexical: Any, seen: Callable[[str, str], bool]) -> str | None:
    """The most used word one edit from ``word`` (with another index term, far more common, seen as written).

    ``seen(word, term)`` says whether papers using ``term`` write it as ``word``.
    """
    if len(word) < MIN_WORD or not word.isascii() or not word.isalpha():
        return None
    own = analyze(word)
    floor = MIN_SUGGESTED_DF if df == 0 else GAIN_IF_KNOWN * df
    scored = []
    for cand in edits1(word):
        terms = analyze(cand)
        if len(terms) == 1 and terms != own and (cdf := lexical.doc_freq(terms[0])) >= floor:
            scored.append((-cdf, cand, terms[0]))
    for _, cand, term in sorted(scored)[:SEEN_TRIES]:
        if seen(cand, term):
            return cand
    return None


@dataclass(slots=True, frozen=True)
class WordCheck:
    """What the index says about a query's words."""

    notice: str | None = None
    suggestion: str | None = None


def check_words(q: ParsedQuery, text: str, lexical: Any, seen: Callable[[str, str], bool], *,
                lexical_found: bool, dense_found: bool) -> WordCheck:
    """A notice when the words matched nothing (or little), and a respelt ``text`` when one exists.

    ``seen``: see :func:`respell`; ``lexical_found``: the BM25 side returned papers; ``dense_found``: the dense
    side did (so the page shows "closest by meaning" rather than nothing).
    """
    if not q.should and lexical_found:
        return WordCheck()
    dfs = {t: lexical.doc_freq(t) for t in q.should}
    rare = rare_df(lexical.num_docs)
    weak = not lexical_found or 2 * sum(df <= rare for df in dfs.values()) > len(dfs)
    suspects = [t for t, df in dfs.items() if df <= (rare if weak else 0)]  # when matches are fine: unknown words
    if not weak and not suspects:
        return WordCheck()
    fixes = {}
    for t in suspects:
        word = q.words.get(t)
        if word and (better := respell(word, dfs[t], lexical, seen)):
            fixes[word] = better
    suggestion = None
    if fixes:
        suggestion = text
        for word, better in fixes.items():
            suggestion = re.sub(rf"(?i)(?<!\w){re.escape(word)}(?!\w)", better, suggestion)
        suggestion = suggestion if suggestion.lower() != text.lower() else None
    if not lexical_found:
        return WordCheck(NO_MATCH if dense_found else NO_MATCH_LEXICAL, suggestion)
    return WordCheck(FEW_MATCH if weak and suggestion else None, suggestion)
