"""Tokens never reach the logs, whatever logs them."""
from __future__ import annotations

import base64
import io
import json
import logging

import pytest

from core.db.sql_store import SqlPostStore
from core.db.testing import sqlite_engine
from core.domain import Account
from core.infra.logs import configure_logging
from core.domain.catalog import Platform
from core.infra.secrets import SECRETS, SecretRegistry, TokenCipher
from core.infra.settings import Settings


def test_tokens_are_redacted_in_plain_and_json_logs():
    for json_lines in (False, True):
        out = io.StringIO()
        redactor = configure_logging("INFO", json_lines=json_lines, stream=out)
        redactor.add_secret("s3cr3t-token-value")
        log = logging.getLogger("outpost.test")
        log.info("calling https://graph.instagram.com/v25.0/me?access_token=IGQVJabc123&fields=id")
        log.warning("headers: Authorization: Bearer abc.def.ghi")
        log.error("stored token %s failed", "s3cr3t-token-value")
        try:
            raise RuntimeError("refresh failed for page_access_token=EAAB999")
        except RuntimeError:
            log.exception("boom")
        text = out.getvalue()
        for secret in ("IGQVJabc123", "abc.def.ghi", "s3cr3t-token-value", "EAAB999"):
            assert secret not in text
        assert text.count("[redacted]") >= 4
        if json_lines:
            assert all(json.loads(line)["level"] for line in text.strip().splitlines())
    logging.getLogger().handlers[:] = [h for h in logging.getLogger().handlers if not getattr(h, "_outpost", False)]


# ---------------------------------------------------------------- every secret the process loads (issue 10)

@pytest.fixture
def log_lines():
    """Log through the one Outpost handler, plain then JSON; yields a function returning what was written."""
    def lines(write) -> list[str]:
        texts = []
        for json_lines in (False, True):
            out = io.StringIO()
            configure_logging("INFO", json_lines=json_lines, stream=out)
            write(logging.getLogger("outpost.test.registry"))
            texts.append(out.getvalue())
        return texts

    yield lines
    logging.getLogger().handlers[:] = [h for h in logging.getLogger().handlers if not getattr(h, "_outpost", False)]


def test_a_decrypted_token_is_masked_bare_in_any_log_line(log_lines):
    cipher = TokenCipher.generate()
    blob = cipher.encrypt("ya29.fresh-access-token-4f9a", account_id="acct_1")
    SECRETS.clear()                                     # as in a new process that only loads it
    assert cipher.decrypt(blob, account_id="acct_1") == "ya29.fresh-access-token-4f9a"
    for text in log_lines(lambda log: log.info("retrying with ya29.fresh-access-token-4f9a, attempt 2")):
        assert "ya29.fresh-access-token-4f9a" not in text
        assert "retrying with [redacted], attempt 2" in text


def test_every_secret_an_account_holds_is_masked_once_stored(tmp_path, log_lines):
    # Access token, refresh token and a Page's own token, through the SQL store's encryption.
    engine = sqlite_engine(tmp_path / "outpost.sqlite")
    try:
        store = SqlPostStore(engine, TokenCipher.generate())
        SECRETS.clear()
        store.save_account(Account(platform=Platform.FACEBOOK, handle="Acme", oauth_token="EAAuser-token-123456",
                                   refresh_token="refresh-token-abcdef", secrets={"page_token": "EAApage-token-7890"}))
        texts = log_lines(lambda log: log.warning("Graph said: bad EAAuser-token-123456 / refresh-token-abcdef "
                                                  "(page EAApage-token-7890)"))
    finally:
        engine.dispose()
    for text in texts:
        assert "EAAuser-token-123456" not in text and "refresh-token-abcdef" not in text
        assert "EAApage-token-7890" not in text and text.count("[redacted]") == 3


def test_secrets_read_from_settings_are_masked(log_lines):
    SECRETS.clear()
    key = base64.urlsafe_b64encode(bytes(range(32))).decode()
    Settings.from_env({"GEMINI_API_KEY": "AIzaSy-gemini-key-000", "OUTPOST_X_CLIENT_ID": "x-client-id",
                       "OUTPOST_X_CLIENT_SECRET": "x-client-secret-999", "OUTPOST_SECRET_KEYS": f"k1:{key}",
                       "OUTPOST_SMTP_URL": "smtp://mailer:smtp-pass-4242@mail.example.com:587"})
    texts = log_lines(lambda log: log.error("config: x-client-id AIzaSy-gemini-key-000 x-client-secret-999 %s "
                                            "smtp-pass-4242", key))
    for text in texts:
        for secret in ("AIzaSy-gemini-key-000", "x-client-secret-999", key, "smtp-pass-4242"):
            assert secret not in text
        assert "config: x-client-id [redacted]" in text   # a client id is not a secret


@pytest.mark.parametrize("body", [
    '{"did":"did:plc:abc","handle":"a.bsky.social","accessJwt":"eyJhbGciOi.access.sig","refreshJwt":"eyJhbGciOi.refresh.sig"}',
    "accessJwt=eyJhbGciOi.access.sig refreshJwt=eyJhbGciOi.refresh.sig",
])
def test_bluesky_session_fields_are_masked(log_lines, body):
    SECRETS.clear()
    for text in log_lines(lambda log: log.info("createSession answered %s", body)):
        assert "eyJhbGciOi" not in text
        assert "did:plc:abc" in text or "accessJwt" in text


def test_many_known_secrets_do_not_slow_logging_down_or_grow_without_bound():
    registry = SecretRegistry(max_size=1000)
    registry.add(*(f"token-{n:06d}-abcdefgh" for n in range(5000)))
    assert len(registry) == 1000                        # the oldest are forgotten
    assert "token-004999-abcdefgh" in registry and "token-000000-abcdefgh" not in registry
    assert registry.mask("a token-004999-abcdefgh b token-000000-abcdefgh") == "a [redacted] b token-000000-abcdefgh"
