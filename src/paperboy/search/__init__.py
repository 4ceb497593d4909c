"""The query layer: one :class:`SearchEngine` per process answers every surface's :class:`SearchRequest`.

Modules, in the order a query flows through them:

- :mod:`.parse` - the user query language (words, "phrases", +required, -excluded) into analyzed terms;
- :mod:`.candidates` - pins, BM25 and cosine candidates under the filters, exact scores for completion;
- :mod:`.fusion` - rank fusion as pure array functions;
- :mod:`.explain` - why each hit is there (a sentence and structured data) and highlight spans;
- :mod:`.spelling` - a notice when the words match nothing, and respellings from the index's vocabulary;
- :mod:`.engine` - the request flow: threads, query-vector cache, index refresh, paging.
"""

from paperboy.search.engine import FusionParams, SearchEngine
from paperboy.search.explain import highlights
from paperboy.search.parse import ParsedQuery, parse_query

__all__ = ["FusionParams", "ParsedQuery", "SearchEngine", "highlights", "parse_query"]
