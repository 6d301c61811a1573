"""The platform adapter base: the policy lives here, platforms implement small hooks.

An adapter translates Outpost's content into one platform's requests and the
platform's answers back. Everything else is decided once, here:

- **One HTTP chokepoint** (`PlatformAdapter.request`) on an injected `httpx.Client`:
  timeouts, a User-Agent, host rewriting (sandbox or test servers), and transport
  errors turned into domain errors. No adapter calls the client around it.
- **Error classes** the runner acts on (`core.domain.errors`): `RetryLater` (with when),
  `TokenExpired` (refresh once, then retry), `ReconnectNeeded`, `Rejected` (for good,
  in plain words), `OutcomeUnknown` (reconcile before anything else). Adapters map
  their platform's bodies in `classify`.
- **OAuth 2 authorization code** (+ PKCE S256 where the platform takes it), token
  parsing and refresh; platforms override only what differs.
- **Idempotency contract**: `publish` may be retried only after `RetryLater`, which an
  adapter raises only when the request certainly changed nothing. Anything else that
  may have been applied is `OutcomeUnknown`: a lost answer, a timeout, and a 5xx on a
  request that is not idempotent (gateways answer 502/504 after the backend made the
  post), unless `not_applied` says the platform documents that answer as not applied.
  After `OutcomeUnknown` the delivery is *in doubt*: the runner calls `find_published`
  first and re-posts only when `idempotent_retry` says a second request is harmless, or
  once `settle_window` has passed since the send and the listing, checked then and again
  after `listing_lag`, still does not have it (and the listing is trustworthy).

Nothing here reads the environment: `PlatformConfig` carries every setting.
"""
from __future__ import annotations

import base64
import email.utils
import hashlib
import secrets
import time
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable, ClassVar, Mapping, Sequence
from urllib.parse import urlencode, urlsplit

import httpx

from core.domain import RenderedContent
from core.domain.errors import (OutcomeUnknown, PlatformError, ReconnectNeeded, Rejected, RetryLater, TokenExpired)
from core.media.fetch import MediaFetchError, default_resolver, fetch_media
from core.media.formats import VIDEO_SUFFIXES
from core.domain.catalog import Platform
from core.domain.timeutil import UTC, utcnow

USER_AGENT = "Outpost/0.1 (+self-hosted social scheduler)"
MEDIA_DOWNLOAD_MAX = 300 * 1_000_000     # the largest video any adapter uploads from a link

# Normalised metric names; adapters keep the platform's own names in `raw`.
METRIC_KEYS = ("views", "reach", "likes", "comments", "shares", "saves", "clicks", "video_views")


@dataclass(frozen=True)
class OAuthSpec:
    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    scope_separator: str = " "
    pkce: bool = False
    client_id_param: str = "client_id"          # TikTok calls it client_key
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict)
    refresh_url: str | None = None              # defaults to token_url
    rotates_refresh_token: bool = False         # each refresh returns a new refresh token; the old one dies
    basic_auth: bool = False                    # send client credentials as HTTP Basic (X confidential clients)


@dataclass(frozen=True)
class PlatformConfig:
    """Per-platform settings, built from Settings at the edge."""

    client_id: str
    client_secret: str = field(default="", repr=False)
    redirect_uri: str = ""
    # Real base URL -> replacement, e.g. {"https://graph.instagram.com": "http://127.0.0.1:8765/graph.instagram.com"}.
    host_overrides: Mapping[str, str] = field(default_factory=dict)
    api_version: str | None = None
    timeout_s: float = 30.0
    options: Mapping[str, Any] = field(default_factory=dict)
    settle_s: float | None = None             # None: the adapter's settle_window
    listing_lag_s: float | None = None        # None: the adapter's listing_lag


@dataclass(frozen=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    issued_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)   # ids the platform returns with the token (open_id, user_id)


@dataclass(frozen=True)
class Profile:
    """Who the connected account is on the platform."""

    external_id: str
    handle: str
    display_name: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Credentials:
    """What an adapter needs to act for one account (decrypted in memory only)."""

    access_token: str = field(repr=False)
    external_id: str | None = None
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    issued_at: datetime | None = None
    account_id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)   # e.g. a Facebook Page's own token


def media_kind(url: str) -> str:
    """"video" or "image", told apart by the file extension of a media URL (query string ignored)."""
    return "video" if url.lower().split("?")[0].endswith(VIDEO_SUFFIXES) else "image"


@dataclass(frozen=True)
class MediaItem:
    url: str
    kind: str = "image"          # "image" | "video"
    mime: str | None = None
    size: int | None = None
    data: bytes | None = field(default=None, repr=False)   # when the platform needs an upload, not a URL
    alt_text: str | None = None


@dataclass(frozen=True)
class PublishRequest:
    content: RenderedContent
    media: tuple[MediaItem, ...] = ()
    # Unique per delivery; kept with the delivery so a lost response can be reconciled.
    marker: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    # Progress saved by an earlier attempt (e.g. an Instagram container id), and a hook to save more.
    progress: Mapping[str, str] = field(default_factory=dict)
    checkpoint: Callable[[str, str], None] | None = field(default=None, repr=False, compare=False)

    def save(self, key: str, value: str) -> None:
        if self.checkpoint is not None:
            self.checkpoint(key, value)


@dataclass(frozen=True)
class PublishResult:
    external_id: str
    url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PostMetrics:
    external_id: str
    values: Mapping[str, int]            # normalised keys from METRIC_KEYS
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountMetrics:
    followers: int | None
    raw: Mapping[str, Any] = field(default_factory=dict)


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")
    return verifier, challenge


def json_object(response: httpx.Response) -> dict:
    """The response body as a JSON object, or {} when it is empty, not JSON, or not an object."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def normalize_text(text: str) -> str:
    """Text as platforms compare it: NFC, whitespace collapsed. Used to match a post after a lost response."""
    return " ".join(unicodedata.normalize("NFC", text or "").split())


class PlatformAdapter:
    """Base of every platform adapter. Subclasses set the class constants and implement the hooks."""

    platform: ClassVar[Platform]
    oauth: ClassVar[OAuthSpec]
    # Whether find_published can be trusted to say "not there" (so a re-post after a lost response is safe).
    reliable_listing: ClassVar[bool] = True
    # How long before expiry the runner's token job refreshes (platforms with long tokens refresh earlier).
    refresh_ahead: ClassVar[timedelta] = timedelta(minutes=30)
    # How many publishes to this platform one runner makes at once, where uploads are heavy (None: no cap of
    # its own; the runner's concurrency, and its --platform-concurrency setting, apply).
    max_concurrency: ClassVar[int | None] = None
    # In doubt (core.services.publisher): how long after a send the platform may still apply it (a request held by a
    # gateway or a queue past the client's timeout), and how long a new post may take to show in its listing.
    # The client's own timeout (PlatformConfig.timeout_s) must be shorter than the settle window.
    settle_window: ClassVar[timedelta] = timedelta(minutes=2)
    listing_lag: ClassVar[timedelta] = timedelta(seconds=30)
    # Error codes (PlatformError.code) with which the platform refuses a post it already has: after an attempt in
    # doubt such a refusal means "probably ours, landed late", so the runner looks it up instead of failing it.
    duplicate_codes: ClassVar[frozenset[str]] = frozenset({"duplicate"})
    # Whether a post's comments listing can be trusted to say "not there" (so a first comment whose answer was
    # lost may be sent again once the settle window and the listing lag have passed). False: it is never sent
    # again, and people are told to look.
    reliable_comment_listing: ClassVar[bool] = True

    def __init__(self, client: httpx.Client, config: PlatformConfig, *, clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], None] = time.sleep):
        if config.settle_s is not None:
            self.settle_window = timedelta(seconds=config.settle_s)
        if config.listing_lag_s is not None:
            self.listing_lag = timedelta(seconds=config.listing_lag_s)
        if config.timeout_s >= self.settle_window.total_seconds():
            raise ValueError(f"{self.platform.label}: the request timeout ({config.timeout_s:g} s) must be shorter "
                             f"than the settle window ({self.settle_window.total_seconds():g} s), or a request "
                             "the client gave up on could still be applied after it was sent again.")
        self.client = client
        self.config = config
        self.clock = clock
        self.sleep = sleep

    @property
    def limits(self):
        from core.rules.limits import limits_for
        return limits_for(self.platform)

    # ------------------------------------------------------------ the chokepoint
    def resolve(self, url: str) -> str:
        """Rewrite a real platform URL to its configured replacement (sandbox emulator, test server)."""
        for real, replacement in self.config.host_overrides.items():
            if url == real or url.startswith(real.rstrip("/") + "/"):
                return replacement.rstrip("/") + url[len(real.rstrip("/")):]
        return url

    def default_headers(self) -> dict[str, str]:
        return {}

    def request(self, method: str, url: str, *, token: str | None = None, idempotent: bool | None = None,
                headers: Mapping[str, str] | None = None, timeout: float | None = None, **kwargs) -> httpx.Response:
        """Send one request; return the response if it succeeded, else raise a classified PlatformError.

        A transport failure on a request that may have changed something (a POST
        that reached the server) becomes OutcomeUnknown; one that certainly did not
        (connection refused, or an idempotent request) becomes RetryLater.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "OPTIONS")
        all_headers = {"User-Agent": USER_AGENT, **self.default_headers(), **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        target = self.resolve(url)
        try:
            response = self.client.request(method, target, headers=all_headers,
                                           timeout=timeout or self.config.timeout_s, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise RetryLater(f"{self.platform.label} could not be reached ({type(exc).__name__}).",
                             platform=self.platform.value, code="unreachable") from None
        except httpx.TransportError as exc:
            if idempotent:
                raise RetryLater(f"{self.platform.label} did not answer ({type(exc).__name__}).",
                                 platform=self.platform.value, code="transport") from None
            raise OutcomeUnknown(f"{self.platform.label} may have received the request but its answer was lost "
                                 f"({type(exc).__name__}).", platform=self.platform.value, code="lost_response") from None
        if response.status_code >= 400 or self.is_error(response):
            error = self._with_context(self.classify(response), response)
            if (response.status_code >= 500 and not idempotent and isinstance(error, RetryLater)
                    and not error.rate_limited and not self.not_applied(response)):
                # A gateway's 502/504 (or the platform's own 5xx) can come after the backend made the post.
                raise OutcomeUnknown(f"{str(error).rstrip('.')}; the request may still have gone through.",
                                     platform=self.platform.value, code=error.code or str(response.status_code),
                                     http_status=response.status_code) from None
            raise error
        return response

    # ------------------------------------------------------------ media given by a link
    def download_media(self, item: MediaItem, *, max_bytes: int = MEDIA_DOWNLOAD_MAX,
                       allowed_types: tuple[str, ...] = ("image/", "video/"), extra_hosts: Sequence[str] = ()) -> bytes:
        """The bytes of a photo or video given by its link, for platforms that take uploads, not links.

        The link is the post author's, so it is fetched the safe way (core.media.fetch_media): public addresses
        only (the sandbox emulator's host excepted), the connection pinned to the address checked, redirects
        checked again, size and time capped, never with the platform's token. A failure is the post's, in words
        that name the media host and what it answered: RetryLater when the host may recover, else Rejected.
        """
        if item.data is not None:
            return item.data
        allowed = [urlsplit(target).netloc for target in self.config.host_overrides.values()] + list(extra_hosts)
        try:
            return fetch_media(item.url, client=self.client, max_bytes=max_bytes,
                               timeout_s=max(self.config.timeout_s, 60.0), allowed_types=allowed_types,
                               allow_hosts=[h for h in allowed if h], resolver=self.resolve_host).data
        except MediaFetchError as exc:
            cls = RetryLater if exc.transient else Rejected
            raise cls(f"Outpost could not fetch the media for {self.platform.label}: {exc}",
                      platform=self.platform.value, code=exc.code, http_status=exc.http_status) from None

    def resolve_host(self, host: str, port: int) -> list[str]:
        """The addresses of a media or link-card host (a hook, so tests need no DNS)."""
        return default_resolver(host, port)

    def not_applied(self, response: httpx.Response) -> bool:
        """Hook: True when the platform documents this 5xx answer to a non-idempotent request as not applied
        (say where, in the override). By default no 5xx is trusted: it may come after the post was made."""
        return False

    def idempotent_retry(self, request: PublishRequest, *, sent_at: datetime, now: datetime) -> bool:
        """Hook: True when publishing `request` again cannot make a second post, by the platform's own
        idempotency (a client-chosen record key, an idempotency key still remembered), so an in-doubt delivery
        need not wait for the settle window and the listing."""
        return False

    def is_error(self, response: httpx.Response) -> bool:
        """Hook: some platforms report errors inside a 200 (TikTok's error.code)."""
        return False

    def _with_context(self, error: PlatformError, response: httpx.Response) -> PlatformError:
        error.platform = error.platform or self.platform.value
        error.http_status = error.http_status or response.status_code
        return error

    # ------------------------------------------------------------ classification
    def classify(self, response: httpx.Response) -> PlatformError:
        """Map an error response to an error class. Platforms override with their own bodies."""
        status = response.status_code
        message = self.error_message(response)
        if status == 401:
            return TokenExpired(message or f"{self.platform.label} says the access token is not valid.", code="401")
        if status == 429:
            return RetryLater(message or f"{self.platform.label} is rate limiting this account.", code="429",
                              retry_at=self.retry_at(response), rate_limited=True)
        if status >= 500:
            return RetryLater(message or f"{self.platform.label} had a temporary problem ({status}).", code=str(status),
                              retry_at=self.retry_at(response))
        return Rejected(message or f"{self.platform.label} refused the request ({status}).", code=str(status))

    def error_message(self, response: httpx.Response) -> str:
        data = json_object(response)
        for key in ("message", "detail", "error_description", "error"):
            if isinstance(data.get(key), str):
                return data[key]
        return ""

    def retry_at(self, response: httpx.Response) -> datetime | None:
        """When to try again, from Retry-After (seconds or HTTP date)."""
        value = response.headers.get("retry-after")
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return self.clock() + timedelta(seconds=int(value))
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    # ------------------------------------------------------------ OAuth
    def authorization_url(self, *, state: str, code_challenge: str | None = None) -> str:
        spec = self.oauth
        params = {spec.client_id_param: self.config.client_id, "redirect_uri": self.config.redirect_uri,
                  "response_type": "code", "scope": spec.scope_separator.join(spec.scopes), "state": state,
                  **spec.extra_authorize_params}
        if spec.pkce:
            if not code_challenge:
                raise ValueError(f"{self.platform.label} requires PKCE: pass the S256 code_challenge.")
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        return self.resolve(spec.authorize_url) + "?" + urlencode(params)

    def exchange_code(self, code: str, *, code_verifier: str | None = None) -> TokenSet:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.config.redirect_uri,
                self.oauth.client_id_param: self.config.client_id}
        if self.oauth.pkce and code_verifier:
            data["code_verifier"] = code_verifier
        return self.parse_token(self._token_call(self.oauth.token_url, data))

    def refresh(self, creds: Credentials) -> TokenSet:
        """A new token for `creds`; ReconnectNeeded when the platform will not give one."""
        if not creds.refresh_token:
            raise ReconnectNeeded(f"{self.platform.label} gave no refresh token; connect the account again.",
                                  platform=self.platform.value, code="no_refresh_token")
        data = {"grant_type": "refresh_token", "refresh_token": creds.refresh_token,
                self.oauth.client_id_param: self.config.client_id}
        token = self.parse_token(self._token_call(self.oauth.refresh_url or self.oauth.token_url, data))
        if token.refresh_token is None and not self.oauth.rotates_refresh_token:
            # Platforms that do not send a new refresh token keep the old one valid.
            token = TokenSet(access_token=token.access_token, refresh_token=creds.refresh_token,
                             expires_at=token.expires_at, refresh_expires_at=token.refresh_expires_at,
                             scopes=token.scopes, issued_at=token.issued_at, extra=token.extra)
        return token

    def _token_call(self, url: str, data: dict) -> dict:
        auth = None
        if self.oauth.basic_auth and self.config.client_secret:
            auth = (self.config.client_id, self.config.client_secret)
        elif self.config.client_secret:
            data = {**data, "client_secret": self.config.client_secret}
        try:
            response = self.request("POST", url, data=data, auth=auth, idempotent=True)
        except (TokenExpired, Rejected) as exc:
            raise ReconnectNeeded(f"{self.platform.label} refused the authorization: {exc}",
                                  platform=self.platform.value, code=exc.code) from None
        return response.json()

    def parse_token(self, data: Mapping[str, Any]) -> TokenSet:
        """Read a token response; platforms override the field names that differ."""
        now = self.clock()
        expires_in = data.get("expires_in")
        refresh_in = data.get("refresh_token_expires_in") or data.get("refresh_expires_in")
        scope = data.get("scope") or ""
        scopes = tuple(s for s in (scope.replace(",", " ").split() if isinstance(scope, str) else scope) if s)
        return TokenSet(access_token=data["access_token"], refresh_token=data.get("refresh_token"),
                        expires_at=now + timedelta(seconds=int(expires_in)) if expires_in else None,
                        refresh_expires_at=now + timedelta(seconds=int(refresh_in)) if refresh_in else None,
                        scopes=scopes, issued_at=now,
                        extra={k: v for k, v in data.items() if k not in
                               ("access_token", "refresh_token", "expires_in", "refresh_token_expires_in",
                                "refresh_expires_in", "scope", "token_type")})

    def can_refresh(self, creds: Credentials) -> bool:
        """Whether the platform would give a new token now (platforms with rules of their own override)."""
        return bool(creds.refresh_token)

    def refresh_due(self, creds: Credentials, now: datetime) -> bool:
        """Whether the runner should refresh this token now: it expires within `refresh_ahead` and can be renewed."""
        if creds.expires_at is None or creds.expires_at - now > self.refresh_ahead:
            return False
        return self.can_refresh(creds)

    def missing_scopes(self, token: TokenSet) -> tuple[str, ...]:
        """Scopes we asked for that the person did not grant (empty if the platform does not say)."""
        if not token.scopes:
            return ()
        return tuple(s for s in self.oauth.scopes if s not in token.scopes)

    # ------------------------------------------------------------ the post and what follows it
    # The publisher calls `publish_post`: the post itself (`publish`), then its first comment where the platform
    # takes one (`options["first_comment"]`; a thread's replies are the adapter's own `publish`, as on X). The
    # post counts as published once it is on the platform; what follows it never makes it a second time:
    #
    # - each step is checkpointed before it is sent ("comment:sent") and when it is done ("comment:id"), and the
    #   post's id as soon as it exists ("post:id"), so an attempt tried again resumes after what is done;
    # - a step whose answer was lost (OutcomeUnknown) is looked up on the platform first (`find_comment`: the
    #   post's comments, matched by text); not there, it is sent again only once the settle window and the
    #   listing lag have passed since it was sent; before that the attempt ends in doubt (OutcomeUnknown) and
    #   the publisher looks again later;
    # - a step refused for good does not undo the post: the result says why (extra["first_comment_error"]) and
    #   the publisher records it and tells people. The refusal is checkpointed at once ("comment:failed",
    #   "thread:failed": a thread stops at its first refused reply), so a runner that takes the delivery over
    #   never sends that step again, and still tells why.

    def live_post(self, progress: Mapping[str, str]) -> PublishResult | None:
        """The post an earlier attempt of this delivery is known to have made (from its checkpoints), or None."""
        if progress.get("post:id"):
            return PublishResult(progress["post:id"], progress.get("post:url") or None)
        return None

    def mark_live(self, request: PublishRequest, post: PublishResult) -> None:
        """Checkpoint that the post exists (found on the platform after a lost answer), so it is never made again."""
        request.save("post:id", post.external_id)
        request.save("post:url", post.url or "")

    def first_comment_wanted(self, request: PublishRequest) -> str:
        """The first comment to post under this request's post ("" when none, or where the platform takes none)."""
        text = str(request.options.get("first_comment") or "").strip()
        return text if text and self.limits.supports_first_comment else ""

    # An adapter whose own `publish` posts the thread's replies (X) sets this; the others reply-chain here, through
    # `post_reply` and `find_reply`, where the platform's limits say supports_thread.
    threads_itself: ClassVar[bool] = False

    def thread_wanted(self, request: PublishRequest) -> list[str]:
        """The replies that follow the post as a thread, where this base class posts them ([] otherwise)."""
        if self.threads_itself or not self.limits.supports_thread:
            return []
        return [str(t) for t in request.options.get("thread") or ()]

    def followups_pending(self, request: PublishRequest) -> bool:
        """Whether something still has to follow the post (a comment, a thread's replies) for it to be complete."""
        progress = request.progress
        replies = self.thread_wanted(request)
        if any(not progress.get(f"reply:{i}") for i in range(1, len(replies) + 1)) \
                and not progress.get("thread:failed"):
            return True
        return bool(self.first_comment_wanted(request)) and not (progress.get("comment:id")
                                                                 or progress.get("comment:failed"))

    def publish_post(self, creds: Credentials, request: PublishRequest) -> PublishResult:
        """The post (made once: a live post from an earlier attempt is not made again), then the thread's replies,
        then its first comment. A reply refused for good (the post is live: a Rejected can only be about what
        follows it, here or in an adapter that threads itself) is checkpointed as "thread:failed" before the
        refusal goes on to the publisher; an attempt that finds it sends nothing more and returns the post with
        extra["thread_error"]."""
        live, refused = self.live_post(request.progress), request.progress.get("thread:failed")
        if live is not None and refused:
            return replace(live, extra={**live.extra, "thread_error": refused})
        try:
            return self._post_and_followups(creds, request)
        except Rejected as exc:
            if self.live_post(request.progress) is not None:
                request.save("thread:failed", str(exc)[:500])
            raise

    def _post_and_followups(self, creds: Credentials, request: PublishRequest) -> PublishResult:
        comment, replies = self.first_comment_wanted(request), self.thread_wanted(request)
        main = self.live_post(request.progress) if comment or replies else None
        if main is None:
            main = self.publish(creds, request)
            if comment or replies:
                self.mark_live(request, main)
        if not comment and not replies:
            return main
        extra = dict(main.extra)
        if replies:
            extra["thread_ids"] = self._thread(creds, request, main, replies)
        if comment:
            extra.update(self._first_comment(creds, request, main, comment))
        return PublishResult(main.external_id, main.url, extra=extra)

    def _thread(self, creds: Credentials, request: PublishRequest, post: PublishResult,
                replies: Sequence[str]) -> list[str]:
        """Each reply to the one before, made once: checkpointed before it is sent ("reply_sent:i") and when made
        ("reply:i"); a send whose answer was lost is looked up among the replies before it is sent again."""
        progress, label, total = request.progress, self.platform.label, len(replies) + 1
        ids = [post.external_id]
        for i, text in enumerate(replies, start=1):
            key, sent_key = f"reply:{i}", f"reply_sent:{i}"
            if not progress.get(key):
                sent = checkpoint_time(progress.get(sent_key))
                found = None
                if sent is not None:
                    found = self.find_reply(creds, ids[-1], text, since=sent - timedelta(minutes=5))
                    if (not found and self.clock() < sent + self.settle_window + self.listing_lag
                            and not self.reply_resend_safe(sent)):
                        raise OutcomeUnknown(f"The first post is on {label}, but the answer to post {i + 1} of the "
                                             f"thread was lost and {label} does not show it yet.",
                                             platform=self.platform.value, code="reply_in_doubt")
                if found:
                    request.save(key, found)
                else:
                    # A resend the platform's idempotency covers keeps the first send's time (its window runs from it).
                    keep = sent is not None and self.reply_resend_safe(sent)
                    request.save(sent_key, (sent if keep else self.clock()).isoformat())
                    try:
                        request.save(key, self.post_reply(creds, request, ids[-1], text, i))
                    except (RetryLater, TokenExpired):
                        request.save(sent_key, "")       # certainly not made: sending it again is safe
                        raise
                    except Rejected as exc:
                        raise Rejected(f"{label} refused post {i + 1} of {total} of the thread: {exc}",
                                       platform=self.platform.value, code=exc.code,
                                       http_status=exc.http_status) from None
            ids.append(progress[key])
        return ids

    def reply_resend_safe(self, sent_at: datetime) -> bool:
        """Hook: True when sending a reply again (first sent at `sent_at`) cannot make a second one, by the
        platform's own idempotency (Mastodon's Idempotency-Key, remembered for an hour)."""
        return False

    def post_reply(self, creds: Credentials, request: PublishRequest, parent_id: str, text: str, index: int) -> str:
        """Post `text` as a reply to `parent_id` (post `index` of the thread, 1 = the first reply); returns its id."""
        raise NotImplementedError

    def find_reply(self, creds: Credentials, parent_id: str, text: str, *, since: datetime) -> str | None:
        """The id of this account's reply to `parent_id` with this text, made at or after `since` (or None)."""
        raise NotImplementedError

    def _first_comment(self, creds: Credentials, request: PublishRequest, post: PublishResult,
                       text: str) -> dict[str, str]:
        progress = request.progress
        if progress.get("comment:id"):
            return {"first_comment_id": progress["comment:id"]}
        if progress.get("comment:failed"):
            return {"first_comment_error": progress["comment:failed"]}
        label = self.platform.label
        sent = checkpoint_time(progress.get("comment:sent"))
        if sent is not None:
            # An earlier try's answer was lost: is the comment there?
            try:
                found = self.find_comment(creds, post, text, since=sent - timedelta(minutes=5))
            except (Rejected, ReconnectNeeded) as exc:     # not allowed to read the comments: nobody can tell
                return self._comment_unknown(request, f"{label} does not let Outpost read the comments ({exc})")
            if found:
                request.save("comment:id", found)
                return {"first_comment_id": found, "first_comment_found": "1"}
            if self.clock() < sent + self.settle_window + self.listing_lag:
                raise OutcomeUnknown(f"The post is on {label}, but the answer to its first comment was lost and "
                                     f"{label} does not show the comment yet.", platform=self.platform.value,
                                     code="comment_in_doubt")
            if not self.reliable_comment_listing:
                return self._comment_unknown(request, f"{label} does not show it, and its list of comments may "
                                                      "leave out new ones")
            # Not there a settle window and a listing lag after it was sent: it was never made.
        request.save("comment:sent", self.clock().isoformat())
        try:
            comment_id = self.post_comment(creds, post, text)
        except (RetryLater, TokenExpired):
            request.save("comment:sent", "")          # certainly not made: sending it again is safe
            raise
        except (Rejected, ReconnectNeeded) as exc:
            why = str(exc).rstrip(". ") + "."
            if isinstance(exc, ReconnectNeeded) or exc.http_status == 403 or exc.code in ("10", "200", "ACCESS_DENIED"):
                why += (f" Reconnect the account from Accounts to let Outpost comment on {label} (an account connected "
                        "before first comments existed has not given that permission).")
            request.save("comment:failed", why[:500])
            return {"first_comment_error": why}
        request.save("comment:id", comment_id)
        return {"first_comment_id": comment_id}

    @staticmethod
    def _comment_unknown(request: PublishRequest, why: str) -> dict[str, str]:
        """A first comment whose answer was lost and that cannot be proven absent: never sent again."""
        message = (f"its answer was lost and Outpost cannot tell whether it went out ({why}). Look under the post "
                   "and add it by hand if it is missing.")
        request.save("comment:failed", message[:500])
        return {"first_comment_error": message}

    def post_comment(self, creds: Credentials, post: PublishResult, text: str) -> str:
        """Post `text` as a comment under `post`; returns the comment's id. Platforms with supports_first_comment."""
        raise NotImplementedError

    def find_comment(self, creds: Credentials, post: PublishResult, text: str, *, since: datetime) -> str | None:
        """The id of a comment of this account under `post` with this text, made at or after `since` (or None)."""
        raise NotImplementedError

    # ------------------------------------------------------------ hooks
    def fetch_profile(self, token: TokenSet) -> Profile:
        raise NotImplementedError

    def publish(self, creds: Credentials, request: PublishRequest) -> PublishResult:
        raise NotImplementedError

    def find_published(self, creds: Credentials, request: PublishRequest, *, since: datetime) -> PublishResult | None:
        """The post `request` made on or after `since`, if the platform has it (reconciliation)."""
        raise NotImplementedError

    def post_metrics(self, creds: Credentials, external_ids: Sequence[str]) -> dict[str, PostMetrics]:
        raise NotImplementedError

    def account_metrics(self, creds: Credentials) -> AccountMetrics:
        raise NotImplementedError


def checkpoint_time(value: str | None) -> datetime | None:
    """A time saved in a delivery's progress (ISO text, as `datetime.isoformat` wrote it), or None when unset,
    emptied ("sending it again is safe") or unreadable. The one reader of checkpointed times: the adapters' and
    the publisher's ("sent", "doubt_at", "absent_at")."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def host_overrides_for_sandbox(sandbox_url: str, hosts: Sequence[str]) -> dict[str, str]:
    """Map each real https host to the emulator's mount of the same name (http://emu/graph.instagram.com)."""
    base = sandbox_url.rstrip("/")
    return {f"https://{h}": f"{base}/{h}" for h in hosts}


def host_of(url: str) -> str:
    return urlsplit(url).netloc
