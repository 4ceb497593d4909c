"""The identity rules on their own, without a database: what a backend's lookups feed ``identity.resolve``."""

from paperboy.papers import Author, Paper, finish
from paperboy.store.identity import Known, candidate, keys, resolve

TITLE = "Deep learning for widgets at scale"


def paper(pid: str, title: str = TITLE, *, arxiv: str | None = None, doi: str | None = None,
          authors: tuple[str, ...] = ("Ada Lovelace",)) -> Paper:
    return finish(Paper(id=arxiv or pid, arxiv_id=arxiv, title=title, doi=doi, authors=[Author(a) for a in authors],
                        source="jsonl"))



def test_ids_aliases_arxiv_ids_and_dois_come_before_titles():
    known = Known(by_id={"nips-1": 1}, by_arxiv={"2001.00001": 2}, by_doi={"10.1000/x": 3},
                  by_title={paper("t").title_norm: [candidate(4, None, None, ["Ada Lovelace"])]})
    assert resolve(paper("nips-1", arxiv=None, doi="10.1000/x"), known) == 1
    assert resolve(paper("other", arxiv="2001.00001", doi="10.1000/x"), known) == 2
    assert resolve(paper("other", doi="10.1000/x"), known) == 3
    assert resolve(paper("other"), known) == 4
    assert resolve(paper("other", "A different title entirely here"), known) is None


def test_title_match_needs_a_long_title_a_shared_surname_and_no_conflicting_ids():
    t = paper("t").title_norm
    known = Known(by_title={t: [candidate(7, "2001.00001", "10.1000/x", ["A. Lovelace"])]})
    assert resolve(paper("a"), known) == 7
    assert resolve(paper("a", authors=("Alan Turing",)), known) is None  # no shared surname
    assert resolve(paper("a", authors=()), known) == 7  # no authors: no evidence against
    assert resolve(paper("a", arxiv="2002.00002"), known) is None  # a different arXiv id
    assert resolve(paper("a", doi="10.1000/y"), known) is None  # a different DOI
    short = paper("s", "Introduction")
    assert resolve(short, Known(by_title={short.title_norm: [candidate(8, None, None, ["Ada Lovelace"])]})) is None


def test_the_first_acceptable_candidate_wins():
    t = paper("t").title_norm
    known = Known(by_title={t: [candidate(1, "2002.00002", None, ["Lovelace"]),
                                candidate(2, None, None, ["Lovelace"])]})
    assert resolve(paper("a", arxiv="2001.00001"), known) == 2


def test_remember_makes_a_batch_match_its_own_earlier_papers():
    known = Known()
    first = paper("a", arxiv="2001.00001", doi="10.1000/x")
    known.remember(9, first)
    assert resolve(paper("b", doi="10.1000/x"), known) == 9
    assert resolve(paper("c"), known) == 9  # same title, shared surname


def test_keys_lists_each_lookup_once_and_skips_short_titles():
    batch = [paper("a", doi="10.1000/x"), paper("a", doi="10.1000/x"), paper("b", "Intro", arxiv="2001.00001")]
    k = keys(batch)
    assert k.ids == ["a", "2001.00001"] and k.arxiv_ids == ["2001.00001"] and k.dois == ["10.1000/x"]
    assert k.titles == [batch[0].title_norm]
