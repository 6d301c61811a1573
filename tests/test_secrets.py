"""Token encryption at rest, the keyring, and secrets kept out of logs (core.infra.secrets)."""
from __future__ import annotations

import base64
import logging
import os
import stat

import pytest

from core.domain.errors import ConfigurationError, OutpostError
from core.infra.secrets import (SECRETS, RedactingFilter, SecretRegistry, TokenCipher, TokenDecryptError, load_keyring,
                          parse_keyring, redact, save_keyring)

TOKEN = "EAAG-live-access-token-0123456789abcdef"


def b64key(seed: int = 1) -> str:
    return base64.urlsafe_b64encode(bytes([seed]) * 32).decode()


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher.generate("k1")


# ---------------------------------------------------------------- the cipher

def test_round_trip_and_format(cipher):
    blob = cipher.encrypt(TOKEN, account_id="acct_1")
    assert blob.startswith("v1:k1:")
    assert blob.isascii() and TOKEN not in blob
    assert cipher.decrypt(blob, account_id="acct_1") == TOKEN
    # A fresh nonce every time: the same token never encrypts to the same text twice.
    assert cipher.encrypt(TOKEN, account_id="acct_1") != blob


def test_unicode_and_empty_tokens_round_trip(cipher):
    for token in ("", "tökén-✓", "x" * 5000):
        assert cipher.decrypt(cipher.encrypt(token, account_id="a"), account_id="a") == token


def test_wrong_account_id_fails_without_leaking_the_token(cipher):
    blob = cipher.encrypt(TOKEN, account_id="acct_1")
    with pytest.raises(TokenDecryptError) as err:
        cipher.decrypt(blob, account_id="acct_2")
    assert isinstance(err.value, OutpostError)
    assert TOKEN not in str(err.value) and blob not in str(err.value)
    assert "acct_2" in str(err.value)


@pytest.mark.parametrize("tamper", [
    lambda b: b[:-2] + ("A" if b[-2] != "A" else "B") + b[-1],   # a flipped ciphertext character
    lambda b: b[:-4],                                               # truncated tag
    lambda b: b.replace("v1:", "v2:", 1),                           # unknown format version
    lambda b: b + ":extra",                                         # not three parts
    lambda b: "v1:k1:***not base64***",                             # garbage data
    lambda b: "v1:k1:" + base64.urlsafe_b64encode(b"short").decode(),  # too short to hold nonce and tag
])
def test_tampered_blob_is_refused(cipher, tamper):
    blob = cipher.encrypt(TOKEN, account_id="a")
    with pytest.raises(TokenDecryptError) as err:
        cipher.decrypt(tamper(blob), account_id="a")
    assert TOKEN not in str(err.value)


def test_unknown_key_id_names_the_key_and_how_to_fix_it(cipher):
    blob = TokenCipher.generate("old").encrypt(TOKEN, account_id="a")
    with pytest.raises(TokenDecryptError, match=r"key 'old'.*not in the keyring"):
        cipher.decrypt(blob, account_id="a")


def test_with_new_key_keeps_reading_old_blobs(cipher):
    old_blob = cipher.encrypt(TOKEN, account_id="a")
    rotated = cipher.with_new_key("k2")
    assert rotated.current_key_id == "k2" and rotated.key_ids == ("k2", "k1")
    assert rotated.decrypt(old_blob, account_id="a") == TOKEN
    new_blob = rotated.encrypt(TOKEN, account_id="a")
    assert rotated.key_id_of(new_blob) == "k2"
    with pytest.raises(TokenDecryptError):
        cipher.decrypt(new_blob, account_id="a")   # the old keyring cannot read the new key's blobs
    assert cipher.with_new_key().current_key_id not in ("k1",)
    with pytest.raises(ConfigurationError):
        rotated.without_keys("k2")


def test_repr_never_shows_key_material(cipher):
    exported = cipher.export_keyring()
    key = exported.strip().split(":", 1)[1]
    assert key not in repr(cipher) and "k1" in repr(cipher)


def test_bad_keys_are_refused():
    with pytest.raises(ConfigurationError, match="32 bytes"):
        TokenCipher({"k1": b"x" * 16}, "k1")
    with pytest.raises(ConfigurationError, match="not in the keyring"):
        TokenCipher({"k1": b"x" * 32}, "k9")
    with pytest.raises(ConfigurationError, match="key id"):
        TokenCipher({"k:1": b"x" * 32}, "k:1")


# ---------------------------------------------------------------- the keyring from the environment

def test_env_keyring_first_key_is_current():
    cipher = load_keyring(env_value=f"new:{b64key(2)}, old:{b64key(1)}", key_file=None)
    assert cipher.current_key_id == "new" and cipher.key_ids == ("new", "old")
    # Standard base64 with padding works too.
    std = base64.b64encode(bytes([3]) * 32).decode()
    assert parse_keyring(f"s:{std}", source="test").current_key_id == "s"


@pytest.mark.parametrize("value, message", [
    ("justakey", r"Entry 1 of OUTPOST_SECRET_KEYS is not in the form kid:base64key"),   # no key id
    (f"k1:{b64key(1)},k2:", r"Entry 2 of OUTPOST_SECRET_KEYS is not in the form"),      # empty key
    ("k1:%%%%", r"key 'k1' in OUTPOST_SECRET_KEYS is not valid base64"),
    (f"k1:{base64.b64encode(b'x' * 16).decode()}", r"'k1'.*is 16 bytes; AES-256 needs exactly 32"),
    (f"k1:{b64key(1)},k1:{b64key(2)}", r"lists the key id 'k1' twice"),
    (f"bad id!:{b64key(1)}", r"has the key id 'bad id!'"),
    (" , ,", r"holds no keys"),
])
def test_env_keyring_errors_are_clear_and_never_echo_keys(value, message):
    with pytest.raises(ConfigurationError, match=message) as err:
        parse_keyring(value, source="OUTPOST_SECRET_KEYS")
    assert b64key(1) not in str(err.value) and b64key(2) not in str(err.value)


def test_blank_env_value_falls_back_to_the_key_file(tmp_path):
    cipher = load_keyring(env_value="  ", key_file=tmp_path / "secret.key")
    assert (tmp_path / "secret.key").exists() and cipher.current_key_id


# ---------------------------------------------------------------- the key file

def test_key_file_is_created_owner_only_on_first_run(tmp_path):
    key_file = tmp_path / "data" / "secret.key"
    first = load_keyring(env_value=None, key_file=key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    # The second run reads the same key: what the first run encrypted is still readable.
    second = load_keyring(env_value=None, key_file=key_file)
    blob = first.encrypt(TOKEN, account_id="a")
    assert second.decrypt(blob, account_id="a") == TOKEN


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path, mode):
    key_file = tmp_path / "secret.key"
    load_keyring(env_value=None, key_file=key_file)
    os.chmod(key_file, mode)
    with pytest.raises(ConfigurationError, match=rf"accessible by other users \(mode 0{mode:o}\).*chmod 600"):
        load_keyring(env_value=None, key_file=key_file)


def test_env_value_wins_over_the_key_file(tmp_path):
    key_file = tmp_path / "secret.key"
    cipher = load_keyring(env_value=f"envkey:{b64key(5)}", key_file=key_file)
    assert cipher.current_key_id == "envkey" and not key_file.exists()


def test_save_keyring_replaces_the_file_owner_only(tmp_path):
    key_file = tmp_path / "secret.key"
    old = load_keyring(env_value=None, key_file=key_file)
    rotated = old.with_new_key("k2")
    save_keyring(rotated, key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    reloaded = load_keyring(env_value=None, key_file=key_file)
    assert reloaded.key_ids == rotated.key_ids
    assert list(tmp_path.iterdir()) == [key_file]   # no temporary file left behind


# ---------------------------------------------------------------- redaction

@pytest.mark.parametrize("text, expected", [
    # a registered secret anywhere in the text
    (f"refresh failed for {TOKEN}", "refresh failed for [redacted]"),
    # bearer tokens in headers, any case
    ("Authorization: Bearer abc.DEF-123_~+/=", "Authorization: Bearer [redacted]"),
    ("authorization: bearer xyz", "authorization: bearer [redacted]"),
    # tokens in query strings and form bodies
    ("GET /me?fields=id&access_token=EAAB123&x=1", "GET /me?fields=id&access_token=[redacted]&x=1"),
    ("grant_type=refresh_token&refresh_token=r-9/x&client_secret=s3",
     "grant_type=refresh_token&refresh_token=[redacted]&client_secret=[redacted]"),
    # tokens in JSON bodies
    ('{"access_token": "ya29.a0", "expires_in": 3600}', '{"access_token": "[redacted]", "expires_in": 3600}'),
    # Bluesky's session (createSession / refreshSession answers)
    ('{"did":"did:plc:x","accessJwt":"eyJ.a.b","refreshJwt":"eyJ.c.d"}',
     '{"did":"did:plc:x","accessJwt":"[redacted]","refreshJwt":"[redacted]"}'),
    ('{"identifier":"a.bsky.social","password":"abcd-efgh-ijkl-mnop"}',      # createSession's body
     '{"identifier":"a.bsky.social","password":"[redacted]"}'),
    # ordinary text is left alone
    ("posted to @creator on Instagram", "posted to @creator on Instagram"),
])
def test_redact(text, expected):
    assert redact(text, [TOKEN]) == expected


def test_redacting_filter_cleans_messages_args_and_tracebacks():
    logger = logging.getLogger("outpost.test.redaction")
    flt = RedactingFilter([TOKEN])
    flt.add_secret("second-secret-value", None)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    keep = Keep()
    keep.addFilter(flt)
    logger.addHandler(keep)
    logger.setLevel(logging.INFO)
    try:
        logger.info("token %s refreshed, next %s", TOKEN, "second-secret-value")
        logger.info("calling https://graph.example/me?access_token=%s", "EAAXYZ")
        try:
            raise RuntimeError(f"platform said no to {TOKEN}")
        except RuntimeError:
            logger.exception("publish failed")
    finally:
        logger.removeHandler(keep)
    formatted = "\n".join(logging.Formatter().format(r) for r in records)
    assert TOKEN not in formatted and "second-secret-value" not in formatted and "EAAXYZ" not in formatted
    assert "token [redacted] refreshed, next [redacted]" in formatted
    assert "access_token=[redacted]" in formatted
    assert "RuntimeError: platform said no to [redacted]" in formatted


def test_tokens_the_cipher_handles_are_registered_for_redaction():
    cipher = TokenCipher.generate()
    blob = cipher.encrypt('{"page_token": "EAApage-0123456789", "n": 1}', account_id="acct_1")
    SECRETS.clear()
    cipher.decrypt(blob, account_id="acct_1")
    # A JSON object of secrets registers each of its values, so a bare Page token is masked too.
    assert redact("page EAApage-0123456789 refused") == "page [redacted] refused"
    cipher.encrypt("fresh-token-from-the-platform", account_id="acct_1")
    assert redact("got fresh-token-from-the-platform") == "got [redacted]"


@pytest.mark.parametrize("value, registered", [
    ("long-enough-secret", True),       # a token
    ("short", False),                   # under 8 characters: too likely an ordinary word
    ("        ", False),                # blanks
    (None, False),                      # nothing
])
def test_what_the_registry_keeps(value, registered):
    registry = SecretRegistry()
    registry.add(value)
    assert (value in registry) is registered


def test_the_registry_masks_overlapping_and_nested_secrets_whole():
    registry = SecretRegistry()
    registry.add("abcdefgh-1", "abcdefgh-1-longer", "zzzzzzzz")
    assert registry.mask("x abcdefgh-1-longer y abcdefgh-1 zzzzzzzzz") == "x [redacted] y [redacted] [redacted]z"


def test_the_registry_masks_a_passphrase_with_spaces_and_secrets_inside_longer_words():
    registry = SecretRegistry()
    registry.add("correct horse battery", "tok-12345678")
    assert registry.mask("pw=correct horse battery, url=/a?x=tok-12345678&y=1") == "pw=[redacted], url=/a?x=[redacted]&y=1"
