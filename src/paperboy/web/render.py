"""HTML rendering: the Jinja2 environment, TeX → MathML, highlighting, snippets, BibTeX and URL hygiene.

Everything that turns untrusted paper text into markup lives here, so there is one place to audit
(which is why this module is longer than ~450 lines: splitting it would split the audit).
The rules:

* Jinja2 autoescapes every template variable; only values produced by the functions in this module
  are marked safe, and each of them escapes every piece of input text it emits.
* TeX is converted with ``latex2mathml`` but its *string* output is never trusted (it passes
  ``\\text{<script>}`` through verbatim and emits ``\\href`` / ``\\style`` attributes).  We take its
  element tree and re-serialise it ourselves through an allow-list of MathML elements and attributes,
  escaping every text node.  Anything unexpected makes the segment fall back to its escaped raw TeX.
* Links taken from paper records are shown only when they are ``http(s)``: ``javascript:`` and
  friends never reach an ``href``.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit

import jinja2
from markupsafe import Markup, escape

from paperboy.papers import Paper, display_date, iso_date

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

# -- TeX → MathML ------------------------------------------------------------------------------------------------

#: Longest TeX segment we try to convert: longer "math" is almost always two stray dollar signs.
MAX_TEX_CHARS = 400

# $$...$$ first, then $...$; a backslash-escaped dollar is a literal dollar, never a delimiter.
_MATH = re.compile(
    rf"(?<!\\)\$\$(?P<display>[^$]{{1,{MAX_TEX_CHARS}}}?)(?<!\\)\$\$"
    rf"|(?<!\\)\$(?P<inline>[^$]{{1,{MAX_TEX_CHARS}}}?)(?<!\\)\$"
)

_MATHML_NS = "http://www.w3.org/1998/Math/MathML"
_TAG_WORDS = (
    "math mrow mi mn mo ms mtext mspace msub msup msubsup mfrac msqrt mroot mstyle merror mpadded mphantom "
    "menclose munder mover munderover mtable mtr mtd mlabeledtr mmultiscripts mprescripts none semantics "
    "annotation"
)
_ALLOWED_TAGS = frozenset(_TAG_WORDS.split())
_ATTR_WORDS = (
    "display mathvariant stretchy fence separator accent accentunder movablelimits largeop symmetric lspace "
    "rspace width height depth columnalign rowalign columnspacing rowspacing columnlines rowlines frame "
    "framespacing displaystyle scriptlevel linethickness notation open close separators minsize maxsize form "
    "mathsize align equalrows equalcolumns rowspan columnspan mathcolor mathbackground"
)
_ALLOWED_ATTRS = frozenset(_ATTR_WORDS.split())
_SAFE_ATTR_VALUE = re.compile(r"^[#A-Za-z0-9 .%+-]{0,64}$")


class _Unsafe(Exception):
    """Raised while serialising MathML that we do not want to show; the caller falls back to raw TeX."""


def _serialise(element, out: list[str]) -> None:
    tag = element.tag
    if not isinstance(tag, str):
        raise _Unsafe("non-element node")
    if tag.startswith("{"):
        ns, _, tag = tag[1:].partition("}")
        if ns != _MATHML_NS:
            raise _Unsafe(f"namespace {ns}")
    if tag not in _ALLOWED_TAGS:
        raise _Unsafe(f"element {tag}")
    attrs = []
    for name, value in element.attrib.items():
        if name == "xmlns":
            continue  # re-added below for <math> only
        if name not in _ALLOWED_ATTRS:
            continue  # href, style, class, id, on*: dropped
        value = str(value)
        if not _SAFE_ATTR_VALUE.match(value):
            continue
        attrs.append(f' {name}="{escape(value)}"')
    if tag == "math":
        attrs.insert(0, f' xmlns="{_MATHML_NS}"')
    out.append(f"<{tag}{''.join(attrs)}>")
    if element.text:
        text = html.unescape(element.text)
        if tag in ("mi", "mo") and text.startswith("\\"):
            raise _Unsafe(f"unknown command {text}")  # latex2mathml passes unknown macros through as text
        out.append(str(escape(text)))
    for child in element:
        _serialise(child, out)
        if child.tail:
            out.append(str(escape(html.unescape(child.tail))))
    out.append(f"</{tag}>")


@functools.lru_cache(maxsize=16384)
def tex_to_mathml(tex: str, display: bool = False) -> str | None:
    """Safe MathML markup for one TeX formula, or None when it cannot be converted cleanly.

    Cached because the same formulas recur on every listing and conversion costs ~0.1-1 ms.
    """
    try:
        from latex2mathml.converter import convert_to_element

        root = convert_to_element(tex.strip(), display="block" if display else "inline")
        out: list[str] = []
        _serialise(root, out)
    except Exception:  # noqa: BLE001 - any converter failure means "show the raw TeX"
        return None
    return "".join(out)


# -- light de-TeX for prose ---------------------------------------------------------------------------------------

_ACCENTS = {"'": "\u0301", "`": "\u0300", '"': "\u0308", "^": "\u0302", "~": "\u0303", "=": "\u0304",
            ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328"}
_ACCENT_RE = re.compile(r"\{?\\([`'\"^~=.])\s*\{?([A-Za-z])\}?\}?|\{?\\([uvHck])\s*\{([A-Za-z])\}\}?")
_LETTERS = {r"\ss": "ß", r"\o": "ø", r"\O": "Ø", r"\ae": "æ", r"\AE": "Æ", r"\aa": "å", r"\AA": "Å",
            r"\l": "ł", r"\L": "Ł", r"\i": "ı"}
_LETTER_RE = re.compile(r"\{?(\\(?:ss|o|O|ae|AE|aa|AA|l|L|i))(?![A-Za-z])\}?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ESCAPED = re.compile(r"\\([&%_#$])")
_FONT_GROUP = re.compile(r"\{\\(?:it|em|bf|rm|sc|sl|tt|sf)\s+([^{}$]*)\}")


@functools.lru_cache(maxsize=65536)
def detex(text: str) -> str:
    """Turn the TeX that arXiv uses in prose (accents, ``\\&``) into plain Unicode; leave the rest alone."""
    if "\\" not in text:
        return text

    def accent(m: re.Match) -> str:
        mark, letter = (m[1], m[2]) if m[1] else (m[3], m[4])
        return unicodedata.normalize("NFC", letter + _ACCENTS[mark])

    text = _ACCENT_RE.sub(accent, text)
    text = _LETTER_RE.sub(lambda m: _LETTERS[m[1]], text)
    text = _FONT_GROUP.sub(r"\1", text)
    return _ESCAPED.sub(r"\1", text)


# -- segments, highlights, snippets -------------------------------------------------------------------------------

Span = tuple[int, int]


def segments(text: str) -> list[tuple[int, int, str | None, bool]]:
    """Split ``text`` into ``(start, end, tex, display)`` pieces; ``tex`` is None for prose."""
    out: list[tuple[int, int, str | None, bool]] = []
    pos = 0
    for m in _MATH.finditer(text):
        if m.start() > pos:
            out.append((pos, m.start(), None, False))
        display = m["display"] is not None
        out.append((m.start(), m.end(), m["display"] if display else m["inline"], display))
        pos = m.end()
    if pos < len(text):
        out.append((pos, len(text), None, False))
    return out


def _marked(text: str, start: int, spans: Sequence[Span]) -> str:
    """Escape ``text`` (which starts at offset ``start`` of the field) with <mark> around the spans."""
    if not spans:
        return str(escape(detex(text)))
    end = start + len(text)
    out, pos = [], start
    for a, b in spans:
        a, b = max(a, start), min(b, end)
        if a >= b or a < pos:
            continue
        out.append(str(escape(detex(text[pos - start : a - start]))))
        out.append("<mark>" + str(escape(detex(text[a - start : b - start]))) + "</mark>")
        pos = b
    out.append(str(escape(detex(text[pos - start :]))))
    return "".join(out)


def rich(text: str | None, spans: Iterable[Span] = (), *, start: int = 0, end: int | None = None,
         ellipsis: bool = False) -> Markup:
    """Markup for a title/abstract slice: TeX as MathML (raw TeX on failure), prose escaped, spans marked.

    ``start``/``end`` select a slice of ``text`` (offsets of ``spans`` are relative to the whole text);
    the slice is widened so it never cuts a formula in half.
    """
    if not text:
        return Markup("")
    if not spans and not start and end is None and not ellipsis and len(text) <= 2000:
        return _rich_whole(text)  # titles recur on many pages: convert each once
    return _rich(text, spans, start=start, end=end, ellipsis=ellipsis)


@functools.lru_cache(maxsize=32768)
def _rich_whole(text: str) -> Markup:
    return _rich(text, ())


def _rich(text: str, spans: Iterable[Span], *, start: int = 0, end: int | None = None,
          ellipsis: bool = False) -> Markup:
    text = _CONTROL.sub(" ", text)  # same length, so highlight offsets still line up
    end = len(text) if end is None else min(end, len(text))
    clean_spans = sorted((int(a), int(b)) for a, b in spans if 0 <= int(a) < int(b))
    out: list[str] = []
    if ellipsis and start > 0:
        out.append("… ")
    for seg_start, seg_end, tex, display in segments(text):
        if seg_end <= start or seg_start >= end:
            continue
        if tex is None:
            a, b = max(seg_start, start), min(seg_end, end)
            out.append(_marked(text[a:b], a, [s for s in clean_spans if s[1] > a and s[0] < b]))
            continue
        mathml = tex_to_mathml(tex, display)
        piece = mathml if mathml is not None else f'<span class="tex">{escape(text[seg_start:seg_end])}</span>'
        if any(s[1] > seg_start and s[0] < seg_end for s in clean_spans):
            piece = f"<mark>{piece}</mark>"
        out.append(piece)
    if ellipsis and end < len(text):
        out.append(" …")
    return Markup("".join(out))


def snippet(text: str | None, spans: Iterable[Span] = (), width: int = 360) -> Markup:
    """About ``width`` characters of ``text`` around its first highlighted span, with formulas intact."""
    if not text:
        return Markup("")
    spans = list(spans)
    if len(text) <= width:
        return rich(text, spans)
    first = min((int(a) for a, _ in spans), default=0)
    start = max(0, first - width // 4) if first > width // 2 else 0
    if start:  # begin at a word boundary
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < first else start
    end = start + width
    space = text.rfind(" ", start + width // 2, end)
    end = space if space > 0 else end
    for seg_start, seg_end, tex, _ in segments(text):  # never cut a formula
        if tex is not None:
            if seg_start < start < seg_end:
                start = seg_start
            if seg_start < end < seg_end:
                end = seg_end
    return rich(text, spans, start=start, end=end, ellipsis=True)


def plain(text: str | None) -> str:
    """Text for places that cannot hold markup (<title>, meta tags, feeds, JSON names): TeX accents resolved and
    formulas written as Unicode text ("$O(n^{1+\\gamma})$" becomes "O(n^(1+γ))")."""
    text = _CONTROL.sub(" ", text or "")
    if "$" not in text:
        return detex(text)
    # A "formula" with space inside its dollars is two stray dollar signs ("costs $5 and $10"): kept as written.
    return "".join(detex(text[a:b]) if tex is None or tex != tex.strip() else tex_to_text(tex)
                   for a, b, tex, _ in segments(text))


@functools.lru_cache(maxsize=16384)
def tex_to_text(tex: str) -> str:
    """One formula as plain Unicode text, through the same converter as the MathML; the raw TeX on failure."""
    try:
        from latex2mathml.converter import convert_to_element

        return " ".join(_math_text(convert_to_element(tex.strip())).split())
    except Exception:  # noqa: BLE001 - any converter failure means "show the raw TeX"
        return tex.strip()


def _group(text: str) -> str:
    return text if len(text) <= 1 else f"({text})"


def _math_text(element) -> str:  # noqa: ANN001 - an lxml/ElementTree MathML element
    tag = str(element.tag).rpartition("}")[2]
    own = html.unescape(element.text or "")
    if tag in ("mi", "mo") and own.startswith("\\"):
        raise _Unsafe(f"unknown command {own}")
    kids = [_math_text(child) + html.unescape(child.tail or "") for child in element]
    if tag == "mover" and element.get("accent") == "true" and len(kids) == 2:
        return kids[0] + kids[1]  # x^ for \hat{x}
    if tag in ("msup", "msub", "mover", "munder") and len(kids) == 2:
        return kids[0] + ("^" if tag in ("msup", "mover") else "_") + _group(kids[1].strip())
    if tag in ("msubsup", "munderover") and len(kids) == 3:
        return f"{kids[0]}_{_group(kids[1].strip())}^{_group(kids[2].strip())}"
    if tag == "mfrac" and len(kids) == 2:
        return f"{_group(kids[0].strip())}/{_group(kids[1].strip())}"
    if tag == "msqrt":
        return "√" + _group("".join(kids).strip())
    if tag == "mspace":
        return " "
    return own + "".join(kids)


# -- URLs ---------------------------------------------------------------------------------------------------------


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL without credentials, else None."""
    if not url or not isinstance(url, str) or len(url) > 2000:
        return None
    return _safe_url(url)


@functools.lru_cache(maxsize=65536)
def _safe_url(url: str) -> str | None:
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    if any(c in url for c in "\"'<> \t\r\n\\"):
        return None
    return url


@functools.lru_cache(maxsize=65536)
def paper_path(ident: str) -> str:
    """The site path of a paper page (ids may hold a slash: ``hep-th/9901001``)."""
    return "/paper/" + quote(ident, safe="/.-_")


@functools.lru_cache(maxsize=65536)
def author_path(name: str) -> str:
    return "/author/" + quote(name, safe="")


@functools.lru_cache(maxsize=65536)
def category_path(category: str) -> str:
    return "/category/" + quote(category, safe=".-")


# -- BibTeX -------------------------------------------------------------------------------------------------------

_BIB_KEY_JUNK = re.compile(r"[^A-Za-z0-9]+")


def _bib_value(text: str) -> str:
    """A BibTeX field value: braces balanced (unbalanced ones dropped), no control characters."""
    text = "".join(c for c in text if c >= " ")
    depth, out = 0, []
    for c in text:
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                continue
            depth -= 1
        out.append(c)
    if depth:
        out = [c for c in out if c not in "{}"]
    return "".join(out)


def bibtex(paper: Paper) -> str:
    """A BibTeX entry in the form arXiv's own export uses (``@misc`` with eprint fields)."""
    first = paper.authors[0].name if paper.authors else "anon"
    last = unicodedata.normalize("NFKD", detex(first.split()[-1] if first.split() else "anon"))
    year = paper.submitted.year if paper.submitted else (paper.updated.year if paper.updated else None)
    word = next((w for w in re.findall(r"[A-Za-z]{4,}", paper.title)), "paper")
    key = _BIB_KEY_JUNK.sub("", last.encode("ascii", "ignore").decode()).lower() + (str(year) if year else "")
    key += word.lower()
    fields = [("title", paper.title), ("author", " and ".join(a.name for a in paper.authors))]
    if year:
        fields.append(("year", str(year)))
    if paper.arxiv_id:
        fields += [("eprint", paper.arxiv_id), ("archivePrefix", "arXiv")]
        if paper.primary_category:
            fields.append(("primaryClass", paper.primary_category))
    if paper.doi:
        fields.append(("doi", paper.doi))
    if paper.journal_ref:
        fields.append(("journal", paper.journal_ref))
    url = safe_url(paper.links.get("abs")) or (f"https://arxiv.org/abs/{paper.arxiv_id}" if paper.arxiv_id else None)
    if url:
        fields.append(("url", url))
    body = ",\n".join(f"  {name} = {{{_bib_value(value)}}}" for name, value in fields if value)
    return f"@misc{{{key or 'paper'},\n{body}\n}}"


# -- paper cards (list items) ------------------------------------------------------------------------------------

MAX_CARD_AUTHORS = 6
MAX_CARD_TAGS = 3


def tags_first(categories: list[str], wanted: str | None) -> list[str]:
    """``categories`` with those inside ``wanted`` (a category or archive prefix) first, order kept otherwise."""
    if not wanted:
        return list(categories)
    w = wanted.lower()
    inside = [c for c in categories if c.lower() == w or c.lower().startswith(w + ".")]
    return inside + [c for c in categories if c not in inside]


def card_html(paper: Paper, highlights: dict | None = None, why: str | None = None,
              show_snippet: bool = True, category: str | None = None) -> Markup:
    """One paper as a list item (search results, listings, similar papers).

    Tags show the categories a ``category`` filter matched first (a ``cs`` hit cross-listed from astro-ph shows
    its cs label), and the venue (journal reference) when there is one.

    Written in Python rather than as a Jinja macro: a results page holds 20 of these and macro calls
    cost ~0.5 ms each, more than the search itself.  Every value is escaped here (``escape``), and every
    URL is one this site built from a percent-encoded id or name.
    """
    hl = highlights or {}
    out = ['<li class="paper">\n  <h3 class="paper-title"><a href="', str(escape(paper_path(paper.id))), '">',
           str(rich(paper.title, hl.get("title") or ())),
           '</a></h3>\n  <p class="meta">\n    <span class="authors">']
    authors = paper.authors[:MAX_CARD_AUTHORS]
    out.append(", ".join(f'<a href="{escape(author_path(a.name))}">{escape(detex(a.name))}</a>' for a in authors))
    if len(paper.authors) > MAX_CARD_AUTHORS:
        out.append(f" and {len(paper.authors) - MAX_CARD_AUTHORS:,} more")
    out.append("</span>")
    if shown := display_date(paper):  # "2025", "March 2025" or "13 March 2025": the precision the record has
        out.append(f'\n    <span class="sep" aria-hidden="true">&middot;</span> <time datetime="{iso_date(paper)}">'
                   f'{shown}</time>')
    for c in tags_first(paper.categories, category)[:MAX_CARD_TAGS]:
        out.append(f' <a class="tag" href="{escape(category_path(c))}">{escape(c)}</a>')
    if paper.journal_ref:
        out.append(f'\n    <span class="venue">{escape(detex(paper.journal_ref))}</span>')
    if paper.withdrawn:
        out.append(' <span class="tag warn">withdrawn</span>')
    out.append("\n  </p>")
    if show_snippet and paper.abstract:
        out.append(f'\n  <p class="snippet">{snippet(paper.abstract, hl.get("abstract") or ())}</p>')
    if why:
        out.append(f'\n  <p class="why">{escape(why)}</p>')
    out.append("\n</li>\n")
    return Markup("".join(out))


def hit_html(hit, category: str | None = None) -> Markup:  # noqa: ANN001 - a paperboy.query.Hit
    return card_html(hit.paper, hit.highlights, hit.why, True, category)


# -- the environment ----------------------------------------------------------------------------------------------


def _static_versions() -> dict[str, str]:
    """Content hashes of static files, so their URLs change when they do and can be cached for a year."""
    import hashlib

    versions = {}
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            versions[path.relative_to(STATIC_DIR).as_posix()] = hashlib.blake2b(
                path.read_bytes(), digest_size=6).hexdigest()
    return versions


def make_env() -> jinja2.Environment:
    """The one Jinja2 environment: autoescape on for everything, strict undefined so typos fail in tests."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        cache_size=-1,
    )
    versions = _static_versions()
    env.globals.update(
        static=lambda name: f"/static/{name}?v={versions.get(name, '0')}",
        paper_path=paper_path,
        author_path=author_path,
        display_date=display_date,
        iso_date=iso_date,
        category_path=category_path,
        safe_url=safe_url,
        bibtex=bibtex,
    )
    env.globals["hit_card"] = hit_html
    env.filters.update(rich=rich, snippet=snippet, plain=plain, detex=detex)
    return env
