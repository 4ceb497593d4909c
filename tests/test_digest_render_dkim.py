"""DKIM signing of outgoing mail (dkimpy) when a key is configured: a digest verifies after delivery over SMTP."""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from mail_server import MailSink
from paperboy.config import ConfigError, Settings
from paperboy.mail import DkimKey, SmtpConfig, build_message, send_pending
from paperboy.store.accounts import Mail

dkim = pytest.importorskip("dkim")
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command makes the test key")

MAIL = Mail(key="digest:1:2026-12-03", recipient="reader@example.org", subject="paperboy, 3 December 2026: x",
            text="Hello\n", html="<p>Hello</p>", headers=(
                ("List-Unsubscribe", "<https://papers.example.org/digest/unsubscribe?r=1&s=abc>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                ("List-Id", "paperboy digest <digest.papers.example.org>")))


def key_pair(folder: Path) -> tuple[Path, bytes]:
    """A throwaway RSA key and the DNS TXT record that publishes its public half."""
    key = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True, timeout=60)
    der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True,
                         capture_output=True, timeout=60).stdout
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def test_a_signed_digest_verifies_and_a_changed_one_does_not(tmp_path):
    key, record = key_pair(tmp_path)
    settings = Settings(home=tmp_path, mail_from="paperboy <digest@papers.example.org>", dkim_key_file=str(key),
                        dkim_selector="pb2026")
    signer = DkimKey.from_settings(settings)
    assert signer.domain == "papers.example.org"
    message = signer.sign(build_message(MAIL, settings.mail_from))
    wire = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"pb2026._domainkey.papers.example.org."
        return record

    assert dkim.verify(wire, dnsfunc=dns)
    tags = dict(t.strip().split("=", 1) for t in message["DKIM-Signature"].split(";") if "=" in t)
    assert [h.strip().lower() for h in tags["h"].split(":")] == [
        "from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post", "list-id"]
    assert not dkim.verify(wire.replace(b"unsubscribe?r=1", b"unsubscribe?r=2"), dnsfunc=dns)


def test_the_sender_signs_what_it_delivers(tmp_path, store):
    key, _ = key_pair(tmp_path)
    from paperboy.accounts import open_accounts

    outbox = open_accounts(store).outbox
    with MailSink() as sink:
        cfg = SmtpConfig.from_settings(sink.settings(tmp_path, dkim_key_file=str(key), dkim_selector="pb2026"))
        outbox.enqueue(MAIL, time.time())
        assert send_pending(outbox, cfg).sent == 1
        received = sink.wait_for(1)[0]
    assert "d=paperboy.test" in received["DKIM-Signature"].replace(" ", "")
    assert "s=pb2026" in received["DKIM-Signature"].replace(" ", "")


def test_dkim_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="dkim_selector"):
        DkimKey.from_settings(Settings(home=tmp_path, dkim_key_file="/nonexistent"))
    with pytest.raises(ConfigError, match="cannot read dkim_key_file"):
        DkimKey.from_settings(Settings(home=tmp_path, dkim_key_file=str(tmp_path / "missing.pem"),
                                       dkim_selector="s"))
    assert DkimKey.from_settings(Settings(home=tmp_path)) is None
