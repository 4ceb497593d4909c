"""paperboy: self-hosted research-paper discovery (ingest, hybrid search, trending, digests)."""

__version__ = "0.1.0"
