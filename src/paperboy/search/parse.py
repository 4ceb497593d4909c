"""The user query language: words, quoted phrases, ``+required`` and ``-excluded`` parts.

It belongs to the query layer, not to the index: the lexical index only turns a :class:`ParsedQuery` into tantivy
term and phrase objects, and the dense side reads its constraints and the text to embed.

Safety: user text never reaches tantivy's query parser.  Every word goes through the same analyzer as the index
(tokenise, lower-case, ASCII-fold, English stop words, Snowball stemmer), so ``*``, ``:``, ``(``, ``NEAR`` or a
stray quote are just characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from paperboy.index.lexical import NAME, analyze

MAX_QUERY_TERMS = 64  # more words than this add cost but no ranking signal
MAX_PHRASES = 8


@dataclass(slots=True)
class ParsedQuery:
    """User text split into parts, each already analyzed into index terms.

    ``should`` are bare words (OR, ranked by BM25); ``required``/``excluded`` are ``+word``/``-word``;
    phrases are quoted strings (a phrase is required unless written ``-"..."``, then it is excluded).
    ``name_terms`` are the unstemmed words (for the author field); ``words`` maps each bare word's index term to
    the word as typed (for spelling suggestions).
    """

    text: str
    should: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)
    excluded_phrases: list[list[str]] = field(default_factory=list)
    name_terms: list[str] = field(default_factory=list)
    words: dict[str, str] = field(default_factory=dict)
    semantic_text: str = ""  # the text to embed: the query without operators and excluded parts
    dropped_only_stopwords: bool = False

    @property
    def positive_terms(self) -> list[str]:
        """Every term that may match (for highlighting, ranking and the "only stop words" check)."""
        seen = dict.fromkeys([*self.should, *self.required, *(t for p in self.phrases for t in p)])
        return list(seen)

    @property
    def has_constraints(self) -> bool:
        """True when the query restricts the result set (so dense candidates must be checked against it)."""
        return bool(self.required or self.excluded or self.phrases or self.excluded_phrases)

    @property
    def empty(self) -> bool:
        return not self.positive_terms


_PART = re.compile(r'([+-]?)"([^"]*)"|([+-]?)([^\s"]+)')


def parse_query(text: str) -> ParsedQuery:
    """Split user text into a :class:`ParsedQuery`; never raises for any string.

    An unbalanced quote is dropped and the rest is read as words (so ``"graph neural`` searches
    ``graph neural``).  ``-`` or ``+`` only act as operators at the start of a part; ``state-of-the-art``
    is a word.
    """
    text = (text or "").encode("utf-8", "replace").decode("utf-8")
    if text.count('"') % 2:  # unbalanced: drop the last quote
        i = text.rfind('"')
        text = text[:i] + " " + text[i + 1 :]
    q = ParsedQuery(text=text)
    semantic: list[str] = []
    had_words = False
    for m in _PART.finditer(text):
        if m.group(2) is not None:
            sign, body, quoted = m.group(1), m.group(2), True
        else:
            sign, body, quoted = m.group(3), m.group(4), False
        terms = analyze(body)
        names = analyze(body, NAME)
        had_words = had_words or bool(names)
        if sign != "-":
            semantic.append(body)
            q.name_terms.extend(t for t in names if len(t) > 1)
        if not terms:
            continue
        if quoted and len(terms) > 1:
            (q.excluded_phrases if sign == "-" else q.phrases).append(terms)
        elif sign == "-":
            q.excluded.extend(terms)
        elif sign == "+" or quoted:
            q.required.extend(terms)
        else:
            q.should.extend(terms)
            if len(terms) == 1 and len(names) == 1:
                q.words.setdefault(terms[0], names[0])
    q.should = list(dict.fromkeys(q.should))[:MAX_QUERY_TERMS]
    q.required = list(dict.fromkeys(q.required))[:MAX_QUERY_TERMS]
    q.excluded = list(dict.fromkeys(q.excluded))[:MAX_QUERY_TERMS]
    q.phrases = q.phrases[:MAX_PHRASES]
    q.excluded_phrases = q.excluded_phrases[:MAX_PHRASES]
    q.name_terms = list(dict.fromkeys(q.name_terms))[:MAX_QUERY_TERMS]
    q.semantic_text = " ".join(semantic)
    q.dropped_only_stopwords = had_words and q.empty
    return q
