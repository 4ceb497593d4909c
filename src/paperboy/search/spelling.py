"""Telling a reader when the words found nothing, and suggesting a spelling from the index's own vocabulary.

Nonsense (``zzzzqqqxxyy``) and typos (``grpah nueral netwroks``) used to get confident junk: the dense side
always returns its nearest papers, and "about N results" came from the nearest neighbours.  Two signals, both
general: no query word occurs in the index at all (the BM25 side found nothing), or most of the query's words are
rare in the index (at most :func:`rare_df` papers use them) while a word one edit away is common.

Suggestions are one edit away (delete, transpose, replace, insert a letter: Norvig's ``edits1``), scored by the
document frequency of the edited word's index term in the tantivy index, so the vocabulary is the corpus'
own and no word list is shipped.  Only alphabetic words of four letters or more are respelt.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

from paperboy.index.lexical import analyze
from paperboy.search.parse import ParsedQuery

NO_MATCH = "No papers match these words; showing the closest by meaning."
NO_MATCH_LEXICAL = "No papers match these words."
FEW_MATCH = "Few papers use these words, so these results are loose matches."
MIN_WORD = 4
MIN_GAIN = 10  # a respelling must be used by this many times more papers (plus one) than the word as typed
MIN_SUGGESTED_DF = 3


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


def respell(word: str, df: int, lexical: Any) -> str | None:
    """The most used word one edit from ``word`` whose index term differs, if it is far more common."""
    if len(word) < MIN_WORD or not word.isascii() or not word.isalpha():
        return None
    own = analyze(word)
    best, best_df = None, max(MIN_SUGGESTED_DF, MIN_GAIN * (df + 1)) - 1
    for cand in sorted(edits1(word)):
        terms = analyze(cand)
        if len(terms) != 1 or terms == own:
            continue
        cdf = lexical.doc_freq(terms[0])
        if cdf > best_df:
            best, best_df = cand, cdf
    return best


@dataclass(slots=True, frozen=True)
class WordCheck:
    """What the index says about a query's words."""

    notice: str | None = None
    suggestion: str | None = None


def check_words(q: ParsedQuery, text: str, lexical: Any, *, lexical_found: bool, dense_found: bool) -> WordCheck:
    """A notice when the words matched nothing (or little), and a respelt ``text`` when one exists.

    ``lexical_found``: the BM25 side returned papers; ``dense_found``: the dense side did (so the page shows
    "closest by meaning" rather than nothing).
    """
    if not q.should and lexical_found:
        return WordCheck()
    dfs = {t: lexical.doc_freq(t) for t in q.should}
    rare = rare_df(lexical.num_docs)
    rare_terms = [t for t, df in dfs.items() if df <= rare]
    if lexical_found and 2 * len(rare_terms) <= len(dfs):
        return WordCheck()
    fixes = {}
    for t in rare_terms:
        word = q.words.get(t)
        if word and (better := respell(word, dfs[t], lexical)):
            fixes[word] = better
    suggestion = None
    if fixes:
        suggestion = text
        for word, better in fixes.items():
            suggestion = re.sub(rf"(?i)(?<!\w){re.escape(word)}(?!\w)", better, suggestion)
        suggestion = suggestion if suggestion.lower() != text.lower() else None
    if not lexical_found:
        return WordCheck(NO_MATCH if dense_found else NO_MATCH_LEXICAL, suggestion)
    return WordCheck(FEW_MATCH if suggestion else None, suggestion)
