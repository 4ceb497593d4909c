"""The web surface: server-rendered pages, the JSON API, Hugging Face Papers-compatible endpoints and feeds."""

from paperboy.web.app import create_app

__all__ = ["create_app"]
