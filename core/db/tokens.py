"""Key rotation for the stored OAuth tokens and connect-attempt verifiers (see core.infra.secrets for the format)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.db.engine import write_transaction
from core.db.schema import accounts, oauth_states
from core.infra.secrets import TokenCipher, TokenDecryptError

_TOKEN_COLUMNS = ("oauth_token_enc", "refresh_token_enc", "secrets_enc")


def oauth_binding(state_hash: str) -> str:
    """What a connect attempt's encrypted PKCE verifier is bound to (in place of an account id)."""
    return "oauth:" + state_hash


def rotate_keys(engine: Engine, cipher: TokenCipher) -> int:
    """Re-encrypt every stored token with `cipher`'s current key, in one transaction; returns how many changed.

    Connect attempts' PKCE verifiers are re-encrypted too (and counted). `cipher` must still hold the
    old keys. If any token cannot be decrypted, nothing is changed (TokenDecryptError names the account).
    Running dashboards and runners must be restarted with the new keyring afterwards, or they cannot read
    the re-encrypted tokens.
    """
    current = cipher.current_key_id
    changed = 0
    with write_transaction(engine) as conn:
        rows = conn.execute(sa.select(accounts.c.id, *(accounts.c[c] for c in _TOKEN_COLUMNS))
                            .order_by(accounts.c.id).with_for_update()).all()
        for row in rows:
            values = {}
            for column in _TOKEN_COLUMNS:
                blob = getattr(row, column)
                if blob is None or cipher.key_id_of(blob) == current:
                    continue
                values[column] = cipher.encrypt(cipher.decrypt(blob, account_id=row.id), account_id=row.id)
            if values:
                conn.execute(accounts.update().where(accounts.c.id == row.id).values(values))
                changed += len(values)
        rows = conn.execute(sa.select(oauth_states.c.state_hash, oauth_states.c.code_verifier_enc)
                            .where(oauth_states.c.code_verifier_enc.is_not(None))
                            .order_by(oauth_states.c.state_hash).with_for_update()).all()
        for row in rows:
            if cipher.key_id_of(row.code_verifier_enc) == current:
                continue
            bound = oauth_binding(row.state_hash)
            try:
                verifier = cipher.decrypt(row.code_verifier_enc, account_id=bound)
            except TokenDecryptError:
                raise TokenDecryptError(
                    f"The verifier of connect attempt {row.state_hash[:12]}... cannot be decrypted with this keyring. "
                    "Connect attempts last minutes: delete that row from oauth_states (or wait for it to be "
                    "purged) and rotate again. Nothing was changed.") from None
            blob = cipher.encrypt(verifier, account_id=bound)
            conn.execute(oauth_states.update().where(oauth_states.c.state_hash == row.state_hash)
                         .values(code_verifier_enc=blob))
            changed += 1
    return changed


def token_key_usage(engine: Engine) -> dict[str, int]:
    """How many stored tokens (and connect-attempt verifiers) each key id encrypted, to see when an old key
    can be retired."""
    usage: dict[str, int] = {}
    with engine.connect() as conn:
        blobs = [*conn.execute(sa.select(*(accounts.c[c] for c in _TOKEN_COLUMNS))),
                 *conn.execute(sa.select(oauth_states.c.code_verifier_enc))]
        for row in blobs:
            for blob in row:
                if blob:
                    kid = blob.split(":")[1] if blob.count(":") == 2 else "?"
                    usage[kid] = usage.get(kid, 0) + 1
    return usage
