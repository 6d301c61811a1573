"""OAuth tokens at rest (AES-256-GCM) and secrets kept out of logs.

A stored token is a self-describing ASCII string::

    v1:<key_id>:<base64url(nonce 12 bytes + ciphertext + 16-byte tag)>

The account id is bound in as associated data, so a blob copied into another
account's row does not decrypt. The key id says which key of the keyring
encrypted it, so keys can be rotated: add a new current key, re-encrypt every
token (``python -m core.db rotate-keys``), and drop the old key later.

Keys come from ``OUTPOST_SECRET_KEYS`` (``kid1:base64key,kid2:base64key``, the
first one current) or, when that is unset, from a key file in the same format
(one ``kid:base64key`` per line) that is created with owner-only permissions on
first run. Nothing here reads the environment: the caller passes its value in.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import secrets as _random
import stat
import threading
from pathlib import Path
from typing import Iterable, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.domain.errors import ConfigurationError, OutpostError

FORMAT_VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,40}")
_MAKE_KEY_HINT = ("generate one with: python -c \"import base64, os; "
                  "print(base64.urlsafe_b64encode(os.urandom(32)).decode())\"")


class TokenDecryptError(OutpostError):
    """A stored token could not be decrypted (wrong account, wrong or missing key, or tampered)."""


class TokenCipher:
    """AES-256-GCM over a keyring ``{key_id: 32-byte key}``; new blobs use the current key.

    Every token it encrypts or decrypts is registered with the process's log redaction (`register_secret`).
    """

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str):
        if not keys:
            raise ConfigurationError("The token keyring is empty; at least one 32-byte key is needed.")
        for kid, key in keys.items():
            if not isinstance(kid, str) or not _KEY_ID.fullmatch(kid):
                raise ConfigurationError(f"'{kid}' is not a usable key id: use 1-40 letters, digits, '_', '-' or '.'.")
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                size = len(key) if isinstance(key, bytes) else type(key).__name__
                raise ConfigurationError(f"Key '{kid}' is {size} bytes; AES-256 needs exactly {KEY_BYTES} bytes.")
        if current_key_id not in keys:
            raise ConfigurationError(f"The current key id '{current_key_id}' is not in the keyring.")
        self._keys = dict(keys)
        self._aead = {kid: AESGCM(key) for kid, key in self._keys.items()}
        self._current = current_key_id

    def __repr__(self) -> str:  # never the key material
        return f"TokenCipher(current={self._current!r}, key_ids={self.key_ids!r})"

    @classmethod
    def generate(cls, key_id: str | None = None) -> "TokenCipher":
        """A cipher with one fresh random key (tests, first run)."""
        kid = key_id or _new_key_id()
        return cls({kid: AESGCM.generate_key(bit_length=256)}, kid)

    @property
    def current_key_id(self) -> str:
        return self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id, the current one first."""
        return (self._current,) + tuple(k for k in self._keys if k != self._current)

    def with_new_key(self, key_id: str | None = None) -> "TokenCipher":
        """A cipher that keeps every key of this one and adds a fresh current key."""
        kid = key_id or _new_key_id()
        while key_id is None and kid in self._keys:
            kid = _new_key_id()
        if kid in self._keys:
            raise ConfigurationError(f"The keyring already has a key with id '{kid}'.")
        return TokenCipher({kid: AESGCM.generate_key(bit_length=256), **self._keys}, kid)

    def without_keys(self, *key_ids: str) -> "TokenCipher":
        """A cipher without the given (retired) keys; the current key cannot be dropped."""
        if self._current in key_ids:
            raise ConfigurationError(f"'{self._current}' is the current key and cannot be dropped.")
        return TokenCipher({k: v for k, v in self._keys.items() if k not in key_ids}, self._current)

    def key_id_of(self, blob: str) -> str:
        """The id of the key that encrypted `blob` (no decryption)."""
        return _split(blob)[0]

    def encrypt(self, plaintext: str, *, account_id: str) -> str:
        """`plaintext` encrypted with the current key, bound to `account_id`."""
        if not isinstance(plaintext, str):
            raise TypeError("Only text tokens can be encrypted.")
        if not account_id:
            raise ValueError("An account id is needed to encrypt a token.")
        _register_token(plaintext)  # a fresh token from a platform, about to be stored
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self._current].encrypt(nonce, plaintext.encode("utf-8"),
                                                   _associated_data(self._current, account_id))
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")
        return f"{FORMAT_VERSION}:{self._current}:{body}"

    def decrypt(self, blob: str, *, account_id: str) -> str:
        """The token in `blob`, or TokenDecryptError (whose message never holds the token)."""
        kid, raw = _split(blob)
        aead = self._aead.get(kid)
        if aead is None:
            raise TokenDecryptError(
                f"A stored token for account {account_id} was encrypted with key '{kid}', which is not in the "
                f"keyring (keys: {', '.join(self.key_ids)}). Restore that key to OUTPOST_SECRET_KEYS or the key file, "
                "or reconnect the account.")
        try:
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated_data(kid, account_id))
        except InvalidTag:
            raise TokenDecryptError(
                f"A stored token for account {account_id} failed its integrity check: it belongs to another "
                "account, was altered, or the key was replaced. Reconnect the account.") from None
        token = plain.decode("utf-8")
        _register_token(token)
        return token

    def export_keyring(self) -> str:
        """The keyring in key-file format (current key first). Key material: write it only to a 0600 file."""
        return "".join(f"{kid}:{base64.urlsafe_b64encode(self._keys[kid]).decode('ascii')}\n" for kid in self.key_ids)


def _new_key_id() -> str:
    return "k" + _random.token_hex(4)


def _associated_data(key_id: str, account_id: str) -> bytes:
    return f"outpost-token:{FORMAT_VERSION}:{key_id}:account:{account_id}".encode("utf-8")


def _split(blob: str) -> tuple[str, bytes]:
    if not isinstance(blob, str):
        raise TokenDecryptError("A stored token is not text, so it cannot be decrypted.")
    parts = blob.split(":")
    if len(parts) != 3 or parts[0] != FORMAT_VERSION or not _KEY_ID.fullmatch(parts[1]):
        raise TokenDecryptError(f"A stored token is not in the {FORMAT_VERSION}:<key id>:<data> format, "
                                "so it cannot be decrypted.")
    try:
        raw = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
    except (binascii.Error, ValueError):
        raise TokenDecryptError("A stored token's data is not valid base64url, so it cannot be decrypted.") from None
    if len(raw) < NONCE_BYTES + 16:
        raise TokenDecryptError("A stored token is too short to be a valid encrypted token.")
    return parts[1], raw


# ---------------------------------------------------------------- keyring loading

def parse_keyring(text: str, *, source: str) -> TokenCipher:
    """`kid:base64key` entries separated by commas or newlines, the first one current."""
    keys: dict[str, bytes] = {}
    entries = [e.strip() for e in re.split(r"[,\n]", text or "") if e.strip() and not e.strip().startswith("#")]
    if not entries:
        raise ConfigurationError(f"{source} holds no keys. Expected entries like kid1:base64key ({_MAKE_KEY_HINT}).")
    for n, entry in enumerate(entries, start=1):
        kid, sep, encoded = entry.partition(":")
        kid = kid.strip()
        # Messages name the entry and the key id only, never the key material.
        if not sep or not kid or not encoded.strip():
            raise ConfigurationError(f"Entry {n} of {source} is not in the form kid:base64key "
                                     f"(for example k1:3q2-7w... ; {_MAKE_KEY_HINT}).")
        if not _KEY_ID.fullmatch(kid):
            raise ConfigurationError(f"Entry {n} of {source} has the key id '{kid[:40]}'; "
                                     "use 1-40 letters, digits, '_', '-' or '.'.")
        if kid in keys:
            raise ConfigurationError(f"{source} lists the key id '{kid}' twice; each key needs its own id.")
        key = _decode_key(encoded.strip())
        if key is None:
            raise ConfigurationError(f"The key '{kid}' in {source} is not valid base64.")
        if len(key) != KEY_BYTES:
            raise ConfigurationError(f"The key '{kid}' in {source} is {len(key)} bytes; AES-256 needs exactly "
                                     f"{KEY_BYTES} ({_MAKE_KEY_HINT}).")
        keys[kid] = key
        register_secret(encoded.strip())
    return TokenCipher(keys, next(iter(keys)))


def _decode_key(encoded: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional; None when it is not base64 at all."""
    if not re.fullmatch(r"[A-Za-z0-9+/_-]+={0,2}", encoded):
        return None
    standard = encoded.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def load_keyring(*, env_value: str | None, key_file: Path) -> TokenCipher:
    """The token cipher from OUTPOST_SECRET_KEYS when set, else from `key_file` (created on first run)."""
    if env_value is not None and env_value.strip():
        return parse_keyring(env_value, source="OUTPOST_SECRET_KEYS")
    key_file = Path(key_file)
    if not key_file.exists():
        try:
            _create_key_file(key_file, TokenCipher.generate().export_keyring())
        except FileExistsError:
            pass  # another process created it first; use theirs
    return parse_keyring(_read_private(key_file), source=f"the key file {key_file}")


def save_keyring(cipher: TokenCipher, key_file: Path) -> None:
    """Write `cipher`'s keyring to `key_file` atomically, owner-only (0600)."""
    key_file = Path(key_file)
    tmp = key_file.with_name(f".{key_file.name}.{_random.token_hex(4)}.tmp")
    _create_key_file(tmp, cipher.export_keyring())
    os.replace(tmp, key_file)


def _create_key_file(path: Path, content: str) -> None:
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, content.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_private(path: Path) -> str:
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigurationError(f"The key file {path} cannot be read: {exc.strerror}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigurationError(f"The key file {path} is not a regular file.")
    if os.name == "posix" and info.st_mode & 0o077:
        raise ConfigurationError(
            f"The key file {path} is accessible by other users (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"Outpost will not use a key others can read. Restrict it with: chmod 600 {path}")
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"The key file {path} cannot be read ({type(exc).__name__}).") from None


# ---------------------------------------------------------------- keeping secrets out of logs

REDACTED = "[redacted]"
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9\-._~+/]+=*")
# Named secrets in query strings, form bodies, JSON and key=value text; Bluesky's session has camelCase names,
# and its createSession body carries the app password.
_SECRET_PARAMS = re.compile(
    r"(?i)(?<![A-Za-z0-9])((?:[a-z]+_)?(?:access_token|refresh_token|id_token|oauth_token|oauth_token_secret|client_secret|api_key|apikey"
    r"|x-goog-api-key|accessJwt|refreshJwt|accessToken|refreshToken|password))(\"?'?\s*[=:]\s*\"?'?)([^&\s\"',;}]+)")
SECRET_MIN_LENGTH = 8         # shorter values are not registered: too likely to be ordinary words
_PREFIX = SECRET_MIN_LENGTH   # registered secrets are found by their first characters
MAX_KNOWN_SECRETS = 100_000   # past this the oldest are forgotten (tokens rotate; a runner lives for months)
_RUN = re.compile(r"\S{%d,}" % SECRET_MIN_LENGTH)


class SecretRegistry:
    """Every secret this process has loaded (decrypted tokens, key material, settings), to mask in any text.

    Found through an index of each secret's first characters, so masking a log line costs one dictionary
    look-up per character of its long words, however many secrets are known. Thread-safe; readers take no lock.
    """

    def __init__(self, max_size: int = MAX_KNOWN_SECRETS):
        self._lock = threading.Lock()
        self._known: dict[str, None] = {}                 # insertion order: the oldest first
        self._by_prefix: dict[str, tuple[str, ...]] = {}  # longest first within a prefix
        self._spaced: tuple[str, ...] = ()               # the rare secret with a space inside (a passphrase)
        self._max = max_size

    def add(self, *values: str | None) -> None:
        """Register values that must never be written out (a value already known costs a set look-up)."""
        for value in values:
            if not isinstance(value, str) or len(value.strip()) < SECRET_MIN_LENGTH or value in self._known:
                continue
            with self._lock:
                if value in self._known:
                    continue
                self._known[value] = None
                if re.search(r"\s", value):
                    self._spaced = tuple(sorted(self._spaced + (value,), key=len, reverse=True))
                    continue
                key = value[:_PREFIX]
                self._by_prefix[key] = tuple(sorted(self._by_prefix.get(key, ()) + (value,), key=len, reverse=True))
                while len(self._known) > self._max:
                    self._forget(next(iter(self._known)))

    def _forget(self, value: str) -> None:
        del self._known[value]
        self._spaced = tuple(v for v in self._spaced if v != value)
        key = value[:_PREFIX]
        rest = tuple(v for v in self._by_prefix.get(key, ()) if v != value)
        if rest:
            self._by_prefix[key] = rest
        else:
            self._by_prefix.pop(key, None)

    def clear(self) -> None:
        """Forget every secret (tests)."""
        with self._lock:
            self._known, self._by_prefix, self._spaced = {}, {}, ()

    def __contains__(self, value: object) -> bool:
        return value in self._known

    def __len__(self) -> int:
        return len(self._known)

    def mask(self, text: str) -> str:
        """`text` with every registered secret replaced by [redacted]."""
        for secret in self._spaced:
            text = text.replace(secret, REDACTED)
        index = self._by_prefix
        if not index or not text or len(text) < _PREFIX:
            return text
        out: list[str] = []
        start = 0
        for run in _RUN.finditer(text):   # a secret without spaces lies inside one run of non-space characters
            i, end = run.start(), run.end() - _PREFIX + 1
            while i < end:
                candidates = index.get(text[i:i + _PREFIX])
                secret = next((c for c in candidates if text.startswith(c, i)), None) if candidates else None
                if secret is None:
                    i += 1
                    continue
                out += (text[start:i], REDACTED)
                i = start = i + len(secret)
        if not out:
            return text
        out.append(text[start:])
        return "".join(out)


# The process's registry: TokenCipher registers every token it encrypts or decrypts, parse_keyring every key,
# core.infra.settings every secret it reads; redact() and RedactingFilter mask them all.
SECRETS = SecretRegistry()


def register_secret(*values: str | None) -> None:
    """Register values (tokens, keys, passwords) that must never appear in logs or messages."""
    SECRETS.add(*values)


def _register_token(plaintext: str) -> None:
    """Register a token, and each value of a JSON object of secrets (an account's Page token, app session)."""
    register_secret(plaintext)
    if plaintext.startswith("{"):
        try:
            values = json.loads(plaintext)
        except ValueError:
            return
        if isinstance(values, dict):
            register_secret(*(v for v in values.values() if isinstance(v, str)))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every known secret, bearer token and token-like parameter replaced by [redacted].

    Known: the `secrets` given, and every secret registered with this process (`register_secret`).
    """
    if not text:
        return text
    # Longest first, so a secret containing another is replaced whole.
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = SECRETS.mask(text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Replaces registered secrets and token-looking text in log records with [redacted].

    Masks the secrets given to it and every secret registered with the process (`register_secret`).
    Attach it to handlers (logger filters do not see records propagated from child loggers).
    """

    def __init__(self, secrets: Iterable[str] = (), name: str = ""):
        super().__init__(name)
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset(s for s in secrets if s)

    def add_secret(self, *values: str | None) -> None:
        """Register values (tokens, client secrets) that must never be logged."""
        with self._lock:
            self._secrets = self._secrets | {v for v in values if v}

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logging's problem to report, not ours
            message = str(record.msg)
        cleaned = redact(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True
