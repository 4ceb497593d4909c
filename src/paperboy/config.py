"""Settings: defaults, then ``$PAPERBOY_HOME/config.toml``, then ``PAPERBOY_*`` environment variables.

Everything paperboy writes lives under one home folder, so a backup is a copy of it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit


def default_home() -> Path:
    """``$PAPERBOY_HOME``, else ``$XDG_DATA_HOME/paperboy``, else ``~/.local/share/paperboy``."""
    if env := os.environ.get("PAPERBOY_HOME"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "paperboy"


@dataclass(slots=True)
class Settings:
    home: Path
    database_url: str = ""
    oai_base_url: str = "https://oaipmh.arxiv.org/oai"
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    harvest_delay: float = 3.0  # seconds between requests to arXiv (their stated courtesy)
    batch_size: int = 2000  # papers per ingest transaction
    embed_variant: str = "int8"
    index_checkpoint_s: float = 30.0  # most seconds of index work a kill can lose (vectors are saved this often)
    host: str = "127.0.0.1"
    port: int = 8000
    #: The site's public address ("https://papers.example.org"): absolute URLs in JSON, feeds and mail use it
    #: instead of the request's Host header.  Empty: built from each request.
    base_url: str = ""
    #: Reverse proxies whose X-Forwarded-For/-Proto headers are believed: comma-separated addresses or
    #: networks ("127.0.0.1, 10.0.0.0/8").  Empty: forwarded headers are ignored, whoever sends them.
    trusted_proxies: str = ""
    # Mail (sign-in links now, digests later): see paperboy.mail.  smtp_port 0 = by smtp_tls (25, 587, 465).
    smtp_host: str = ""
    smtp_port: int = 0
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: str = "starttls"  # none | starttls | ssl
    smtp_timeout: float = 30.0
    mail_from: str = "paperboy <paperboy@localhost>"
    # DKIM: sign outgoing mail when a private key (PEM file) is set; the domain defaults to mail_from's.
    dkim_key_file: str = ""
    dkim_selector: str = ""
    dkim_domain: str = ""
    # Readers: how long a sign-in link and a session last.
    sign_in_link_minutes: int = 15
    session_days: int = 30
    # The daily cycle (paperboy.cycle): OAI-PMH harvests to run ("oai:cs", "oai:stat"; PAPERBOY_HARVEST takes
    # them comma-separated), at most every harvest_interval_h hours; none by default.
    harvest: list[str] = field(default_factory=list)
    harvest_interval_h: float = 4.0

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def model_dir(self) -> Path:
        return self.home / "models"

    @property
    def proxies(self) -> list[str]:
        """``trusted_proxies`` as a list of addresses and networks."""
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]


class ConfigError(ValueError):
    """A bad config file or environment value."""


def load_settings(home: Path | str | None = None) -> Settings:
    """Build settings for ``home`` (or the default home), reading its config file and the environment."""
    home_path = Path(home).expanduser() if home else default_home()
    values: dict[str, object] = {}
    config_file = home_path / "config.toml"
    if config_file.exists():
        try:
            values.update(tomllib.loads(config_file.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config_file}: {exc}") from exc
    settings = Settings(home=home_path)
    for f in fields(Settings):
        if f.name == "home":
            continue
        env = os.environ.get(f"PAPERBOY_{f.name.upper()}")
        raw = env if env is not None else values.get(f.name)
        if raw is None:
            continue
        kind = type(getattr(settings, f.name))
        if kind is list and isinstance(raw, str):
            raw = [part.strip() for part in raw.split(",") if part.strip()]
        try:
            setattr(settings, f.name, kind(raw))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"setting {f.name}: cannot read {raw!r} as {kind.__name__}") from exc
    if not settings.database_url:
        settings.database_url = f"sqlite:///{home_path / 'paperboy.db'}"
    return check(settings)


def check(settings: Settings) -> Settings:
    """Refuse settings that would misbehave later: a base URL that is not a site root, a proxy that is no address."""
    if settings.base_url:
        url = urlsplit(settings.base_url)
        if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment or url.username:
            raise ConfigError(f"setting base_url: {settings.base_url!r} is not an http(s) address like "
                              "https://papers.example.org")
        settings.base_url = settings.base_url.rstrip("/")
    for spec in settings.harvest:
        if not isinstance(spec, str) or not spec.startswith("oai:"):
            raise ConfigError(f"setting harvest: {spec!r} is not an OAI-PMH harvest like \"oai:cs\"")
    if settings.harvest_interval_h <= 0:
        raise ConfigError("setting harvest_interval_h must be positive")
    for proxy in settings.proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(f"setting trusted_proxies: {proxy!r} is not an IP address or network") from None
    return settings


def settings_to_json(settings: Settings) -> str:
    """The whole settings as JSON, for processes started from this one (web workers): nothing is re-read."""
    return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()})


def settings_from_json(text: str) -> Settings:
    """Settings written by :func:`settings_to_json`; unknown or missing fields are an error, not a default."""
    try:
        values = json.loads(text)
        names = {f.name for f in fields(Settings)}
        if not isinstance(values, dict) or set(values) != names:
            raise ValueError(f"expected the fields {sorted(names)}")
        values["home"] = Path(values["home"])
        return check(Settings(**values))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read settings passed as JSON: {exc}") from exc
