"""The emulator's in-memory state: one lock, plain dicts, an adjustable clock.

Everything runs on the server's event loop; tests in another thread read the same
objects, so every read-modify-write happens under `State.lock`, held briefly and never
across an `await`. Nothing here touches the disk (see `save`/`load` for the optional
state file, written only at shutdown).
"""
from __future__ import annotations

import hashlib
import pickle
import threading
import time
from collections import defaultdict, deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from types import SimpleNamespace

from sandbox.config import SandboxConfig

UTC = timezone.utc


class Clock:
    """Real time plus an offset that tests move forward (`advance`)."""

    def __init__(self, offset: float = 0.0):
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset

    def dt(self, ts: float | None = None) -> datetime:
        return datetime.fromtimestamp(self.now() if ts is None else ts, UTC)

    def advance(self, seconds: float) -> float:
        self.offset += float(seconds)
        return self.now()


def iso(ts: float, micro: bool = True) -> str:
    """ISO 8601 in UTC (`2026-11-20T10:00:00.123456+00:00`)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds" if micro else "seconds")


def stable_int(*parts: object, digits: int = 17) -> int:
    """A number with `digits` digits derived from `parts` (same seed and handle, same id)."""
    h = int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:12], "big")
    low = 10 ** (digits - 1)
    return low + h % (9 * low)


def stable_str(*parts: object, length: int = 22, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") -> str:
    h = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    n = int.from_bytes(h, "big")
    out = []
    for _ in range(length):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


@dataclass
class Account:
    """A user, page, channel or organization that consented (or was minted by /_control/accounts)."""

    platform: str
    id: str
    handle: str
    name: str
    created_at: float
    extra: dict = field(default_factory=dict)


@dataclass
class Token:
    value: str
    platform: str
    kind: str                 # "access" | "refresh" | "page"
    account_id: str
    client_id: str
    scopes: tuple
    issued_at: float
    expires_at: float | None  # None: never expires
    grant_id: str
    revoked: bool = False
    extra: dict = field(default_factory=dict)

    def status(self, now: float) -> str:
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "ok"


@dataclass
class AuthCode:
    value: str
    platform: str
    client_id: str
    redirect_uri: str
    scopes: tuple
    account_id: str
    issued_at: float
    expires_at: float
    used: bool = False
    extra: dict = field(default_factory=dict)   # code_challenge, access_type, prompt, ...


@dataclass
class Post:
    """Something a platform published: what /_control/posts lists and insights are computed for."""

    platform: str
    account: str
    external_id: str
    text: str
    media: list
    received_at: str          # wall-clock ISO time the request arrived (microseconds)
    request_id: str
    published_at: float       # emulator clock
    kind: str = "post"
    url: str = ""
    deleted: bool = False
    extra: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        data = asdict(self)
        data["published_at"] = iso(self.published_at)
        return data


@dataclass
class Comment:
    """A comment under a post (Instagram media, a Facebook Page post or video, a LinkedIn post)."""

    platform: str
    object_id: str            # the post (or media) it is under
    id: str
    text: str
    author: str               # the account that commented
    created_at: float         # emulator clock
    request_id: str = ""
    deleted: bool = False

    def as_json(self) -> dict:
        data = asdict(self)
        data["created_at"] = iso(self.created_at)
        return data


class State:
    """All emulator data. Platform modules keep their own objects in `meta`, `li`, `x`, `tt`, `yt`."""

    def __init__(self, config: SandboxConfig | None = None, seed: int = 1):
        self.lock = threading.RLock()
        self.config = config or SandboxConfig()
        self.seed = seed
        self.clock = Clock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.accounts: dict[tuple[str, str], Account] = {}
            self.handles: dict[tuple[str, str], str] = {}
            self.tokens: dict[str, Token] = {}
            self.codes: dict[str, AuthCode] = {}
            self.posts: list[Post] = []
            self.post_index: dict[tuple[str, str], Post] = {}
            self.posts_by_account: dict[tuple[str, str], list[Post]] = defaultdict(list)
            self.rejected_duplicates: list[dict] = []
            self.comments: dict[tuple[str, str], list[Comment]] = defaultdict(list)
            self.requests: deque = deque(maxlen=20000)
            self.seq: dict[str, int] = defaultdict(int)
            self.meta = SimpleNamespace(nodes={}, publishes=defaultdict(list), page_tokens={}, by_user={})
            self.li = SimpleNamespace(assets={}, uploads={}, daily=defaultdict(int), orgs={})
            self.x = SimpleNamespace(media={}, windows={}, app_daily={}, last_ms=0, seq=0)
            self.tt = SimpleNamespace(publishes={}, calls=defaultdict(deque), uploads={}, daily=defaultdict(int))
            self.yt = SimpleNamespace(sessions={}, units=defaultdict(int), inserts=defaultdict(int),
                                      channel_uploads=defaultdict(int), refresh_issued=set())
            self.masto = SimpleNamespace(media={}, idempotency={}, windows={})
            self.bsky = SimpleNamespace(blobs={}, records={}, by_handle={}, by_did={}, points={})

    # ------------------------------------------------------------------ helpers
    def now(self) -> float:
        return self.clock.now()

    def next(self, name: str) -> int:
        """The next number in the named sequence (1, 2, ...); deterministic for a given run."""
        with self.lock:
            self.seq[name] += 1
            return self.seq[name]

    def account(self, platform: str, account_id: str) -> Account | None:
        return self.accounts.get((platform, account_id))

    def add_post(self, post: Post) -> Post:
        with self.lock:
            self.posts.append(post)
            self.post_index[(post.platform, post.external_id)] = post
            self.posts_by_account[(post.platform, post.account)].append(post)
        return post

    def find_post(self, platform: str, external_id: str) -> Post | None:
        post = self.post_index.get((platform, external_id))
        return None if post is None or post.deleted else post

    def live_posts(self, platform: str, account: str) -> list[Post]:
        return [p for p in self.posts_by_account.get((platform, account), ()) if not p.deleted]

    def add_comment(self, comment: Comment) -> Comment:
        with self.lock:
            if not hasattr(self, "comments"):            # a state file saved before comments existed
                self.comments = defaultdict(list)
            self.comments[(comment.platform, comment.object_id)].append(comment)
        return comment

    def comments_on(self, platform: str, object_id: str) -> list[Comment]:
        """The comments under one post, oldest first (deleted ones left out)."""
        with self.lock:
            return [c for c in getattr(self, "comments", {}).get((platform, object_id), ()) if not c.deleted]

    def reject_duplicate(self, platform: str, account: str, text: str, request_id: str) -> None:
        with self.lock:
            self.rejected_duplicates.append({"platform": platform, "account": account, "text": text,
                                             "request_id": request_id, "at": iso(time.time())})

    # --------------------------------------------------------------- persistence
    def save(self, path: str) -> None:
        with self.lock:
            data = {k: v for k, v in self.__dict__.items() if k not in ("lock", "config")}
            data["requests"] = deque(maxlen=20000)
            blob = pickle.dumps(data)
        with open(path, "wb") as fh:
            fh.write(blob)

    def load(self, path: str) -> None:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
        with self.lock:
            self.__dict__.update(data)
