"""Graph API helpers shared by the Instagram, Threads and Facebook Page adapters.

All speak Meta's Graph error envelope
(https://developers.facebook.com/docs/graph-api/guides/error-handling)::

    {"error": {"message", "type", "code", "error_subcode", "error_user_msg", "is_transient", "fbtrace_id"}}

and report call budgets in ``X-Business-Use-Case-Usage`` / ``X-App-Usage``
(https://developers.facebook.com/docs/graph-api/overview/rate-limiting/). Meta sends
rate-limit errors as HTTP 400/403, not 429, so the envelope's code decides, not the status.

Instagram and Threads also publish the same way, Meta's container model: `ContainerPublishing`.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Callable, ClassVar, Sequence

import httpx

from core.domain.errors import OutcomeUnknown, PlatformError, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms.base import (Credentials, normalize_text, json_object, media_kind, MediaItem, PublishRequest,
                                 PublishResult, TokenSet)

DEFAULT_VERSION = "v25.0"

# 190's subcodes that a refresh cannot cure: app removed, checkpoint, password changed,
# unconfirmed user, invalid session / no Page role (§1.6, §2.4).
RECONNECT_SUBCODES = {458, 459, 460, 464, 492}
RECONNECT_CODES = {1404078}                                  # Page Publishing Authorization required
THROTTLE_CODES = {4, 17, 32, 341, 613, 80001, 80002}
TRANSIENT_CODES = {1, 2, 9, 368, 9007}                       # 9: IG publish quota; 368: posting too fast
# 506 duplicate; 1366051 photos already posted; 1346003/1404102 flagged; 1609008 facebook.com links.
TRANSIENT_SUBCODES = {2207027, 2207042, 2207003, 2207052, 1390008}   # not ready, quota, fetch failures
PERMANENT_CODES = {100, 506, 1366051, 1346003, 1404102, 1609008}


class SecretStr(str):
    """A token kept in a plain mapping (Profile.meta): equal to the string, but its repr hides it from logs."""

    def __repr__(self) -> str:
        return "'[redacted]'"


def graph_error(response: httpx.Response) -> dict[str, Any]:
    """The ``error`` object of a Graph error body, or {} when the body is not one."""
    error = json_object(response).get("error")
    return error if isinstance(error, dict) else {}


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def usage_retry_at(headers: httpx.Headers, now: datetime) -> datetime | None:
    """When Meta says calls will be accepted again (``estimated_time_to_regain_access``, in minutes).

    X-Business-Use-Case-Usage is ``{"<object-id>": [{"type", "call_count", "total_cputime",
    "total_time", "estimated_time_to_regain_access"}]}``; the longest wait wins. X-App-Usage
    carries percentages only, so it gives no time.
    """
    raw = headers.get("x-business-use-case-usage")
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    minutes = [_as_int(entry.get("estimated_time_to_regain_access"))
               for entries in (data.values() if isinstance(data, dict) else ())
               for entry in (entries if isinstance(entries, list) else ()) if isinstance(entry, dict)]
    minutes = [m for m in minutes if m]
    return now + timedelta(minutes=max(minutes)) if minutes else None


def usage_percent(headers: httpx.Headers) -> int | None:
    """The highest budget use (0-100+) either header reports, to slow down before Meta says stop."""
    values: list[int] = []
    for name in ("x-business-use-case-usage", "x-app-usage"):
        try:
            data = json.loads(headers.get(name) or "null")
        except ValueError:
            continue
        entries = [data] if name == "x-app-usage" else [e for v in (data or {}).values() for e in v]
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict):
                values += [v for k in ("call_count", "total_cputime", "total_time") if (v := _as_int(entry.get(k)))]
    return max(values) if values else None


def classify_graph(response: httpx.Response, *, label: str,
                   fallback: Callable[[httpx.Response], PlatformError], now: datetime) -> PlatformError:
    """Map a Graph error body (§1.6 / §2.4) onto Outpost's error classes.

    ``code`` is ``"<code>"`` or ``"<code>/<subcode>"`` (``"190/460"``); the message is the
    platform's own words (``error_user_msg`` when Meta wrote one for people).
    """
    error = graph_error(response)
    code, sub = _as_int(error.get("code")), _as_int(error.get("error_subcode"))
    if code is None:
        return fallback(response)
    tag = f"{code}/{sub}" if sub else str(code)
    message = f"{label} says: {error.get('error_user_msg') or error.get('message') or 'the request was refused'}"
    if code == 190 and sub in RECONNECT_SUBCODES or code in RECONNECT_CODES or sub in RECONNECT_CODES:
        return ReconnectNeeded(message, code=tag)
    if code in (190, 102):
        return TokenExpired(message, code=tag)
    if code == 10 or 200 <= code <= 299:
        # A permission the person did not grant (or took back): only a new consent adds it.
        return ReconnectNeeded(message, code=tag)
    # The subcode is the more specific word: 368 is "going too fast" but 368/1346003 is flagged content.
    if sub in PERMANENT_CODES:
        return Rejected(message, code=tag)
    if code in THROTTLE_CODES or code in TRANSIENT_CODES or sub in TRANSIENT_SUBCODES:
        # Throttles (and 9 / 2207042, the publishing quota) limit the account (or app) until the reset.
        limited = code in THROTTLE_CODES or code == 9 or sub == 2207042
        return RetryLater(message, code=tag, retry_at=usage_retry_at(response.headers, now), rate_limited=limited)
    if code in PERMANENT_CODES:
        return Rejected(message, code=tag)
    if error.get("is_transient") is True or response.status_code >= 500:
        return RetryLater(message, code=tag, retry_at=usage_retry_at(response.headers, now))
    if "REVOKED_ACCESS_TOKEN" in message or "Error validating access token" in message:
        return ReconnectNeeded(message, code=tag)
    return Rejected(message, code=tag)


def parse_graph_time(value: str | None) -> datetime | None:
    """Graph timestamps look like ``2026-05-01T10:00:00+0000``."""
    if not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def insight_values(data: dict[str, Any]) -> dict[str, Any]:
    """``{"data": [{"name", "values": [{"value"}]}]}`` (or ``total_value``) -> {name: value}; empty = no data yet."""
    out: dict[str, Any] = {}
    for item in data.get("data") or ():
        if not isinstance(item, dict) or "name" not in item:
            continue
        values = item.get("values") or []
        if values and isinstance(values[-1], dict) and "value" in values[-1]:
            out[item["name"]] = values[-1]["value"]
        elif isinstance(item.get("total_value"), dict) and "value" in item["total_value"]:
            out[item["name"]] = item["total_value"]["value"]
    return out


def number(value: Any) -> int:
    """A metric as one integer: breakdown objects ({"like": 3, "love": 1}) are summed."""
    if isinstance(value, dict):
        return sum(number(v) for v in value.values())
    return _as_int(value) or 0


def media_items(request: PublishRequest) -> tuple[MediaItem, ...]:
    """The request's media; bare `content.media_urls` become items, videos told apart by extension."""
    if request.media:
        return request.media
    return tuple(MediaItem(url=u, kind=media_kind(u)) for u in request.content.media_urls)



def find_own_comment(get: Callable[..., dict], path: str, token: str, text: str, *, since: datetime,
                     owner: str | None, text_field: str, time_field: str, params: dict[str, Any],
                     pages: int = 4) -> str | None:
    """The id of `owner`'s comment saying `text` on a Graph `.../comments` edge, made at or after `since`, reading
    up to `pages` pages (`get(path, token, **params)` is the adapter's GET). A comment without an author, or an
    account whose own id is unknown, is matched on text and time alone."""
    want = normalize_text(text)
    for _ in range(pages):
        data = get(path, token, **params)
        for item in data.get("data") or ():
            when = parse_graph_time(item.get(time_field))
            author = str((item.get("from") or {}).get("id") or "")
            if (normalize_text(item.get(text_field) or "") == want and (when is None or when >= since)
                    and (not author or not owner or author == str(owner))):
                return str(item["id"])
        after = ((data.get("paging") or {}).get("cursors") or {}).get("after")
        if not (data.get("paging") or {}).get("next") or not after:
            return None
        params = {**params, "after": after}
    return None

class LongLivedToken:
    """Token renewal shared by Instagram (Instagram Login) and Threads: a 60-day token, renewed from itself (no
    refresh token) through GET <GRAPH_HOST>/refresh_access_token, and only once it is REFRESH_MIN_AGE old and
    not yet expired. A mixin placed before PlatformAdapter; the adapter names its host, grant and LABEL."""

    LABEL: ClassVar[str]
    GRAPH_HOST: ClassVar[str]                 # e.g. https://graph.instagram.com (token endpoints are unversioned)
    REFRESH_GRANT: ClassVar[str]              # ig_refresh_token / th_refresh_token
    REFRESH_MIN_AGE: ClassVar[timedelta] = timedelta(hours=24)   # the platform refuses younger tokens
    # A 60-day token that can only be renewed once a day old: renew it well before the end.
    refresh_ahead: ClassVar[timedelta] = timedelta(days=7)

    def can_refresh(self, creds: Credentials) -> bool:
        now = self.clock()
        if creds.expires_at is not None and creds.expires_at <= now:
            return False
        return creds.issued_at is None or now - creds.issued_at >= self.REFRESH_MIN_AGE

    def refresh(self, creds: Credentials) -> TokenSet:
        """A new 60-day token from the current one."""
        if not self.can_refresh(creds):
            expired = creds.expires_at is not None and creds.expires_at <= self.clock()
            why = (f"it has expired, and {self.LABEL} cannot renew an expired token" if expired else
                   f"{self.LABEL} renews a token only once it is 24 hours old, and this one is younger")
            raise ReconnectNeeded(f"The {self.LABEL} token cannot be renewed: {why}. Connect the account again.",
                                  platform=self.platform.value, code="expired" if expired else "token_too_young")
        return self.parse_token(self._graph_token("refresh_access_token", grant_type=self.REFRESH_GRANT,
                                                  access_token=creds.access_token))

    def _graph_token(self, path: str, **params: str) -> dict:
        # The token endpoints take the token in the query and live outside the versioned path.
        try:
            return self.request("GET", f"{self.GRAPH_HOST}/{path}", params=params).json()
        except (TokenExpired, Rejected) as exc:
            raise ReconnectNeeded(f"{self.LABEL} refused the authorization: {exc}", platform=self.platform.value,
                                  code=exc.code) from None


class ContainerPublishing:
    """Meta's container model, as Instagram and Threads publish: a mixin placed before PlatformAdapter.

    Create a container per item, wait until it is FINISHED, then publish it. A container is
    invisible until published, so creating one twice is harmless but publishing twice is not:
    the container id is saved (progress ``<prefix>container``) before the publish call, the
    media id after it (``<prefix>media``), and a retry first asks whether the saved container
    is already PUBLISHED (then the runner reconciles through ``find_published``).

    The adapter says where the two differ, in the class attributes below, and supplies
    ``get(path, token, **params)``, ``post(path, token, body)`` (its request body encoding),
    ``_kind(request, items)``, ``_create(user, token, kind, items, request)``,
    ``_child(item)`` (a carousel item's container body), ``_container_error(data)`` (the error a
    container in ERROR stands for) and ``_quota_listing(total, start)`` (how it lists recent posts).
    ``_publish_container`` is the hook for checks around the publish call itself.
    """

    LABEL: ClassVar[str]            # the platform's name, in messages
    PROGRESS_PREFIX: ClassVar[str]  # progress keys: <prefix>container, <prefix>children, <prefix>media
    CONTAINER_EDGE: ClassVar[str]   # POST {user}/<edge> makes a container; GET lists the posts
    PUBLISH_EDGE: ClassVar[str]     # POST {user}/<edge> {"creation_id"} publishes one
    STATUS_FIELD: ClassVar[str]     # the container's status field ...
    STATUS_FIELDS: ClassVar[str]    # ... and the fields asked for with it (the error detail)
    QUOTA_EDGE: ClassVar[str]       # GET {user}/<edge> reads the rolling-window publishing quota
    QUOTA_HOLDER: ClassVar[str]     # what the quota message calls the account
    POLL_ATTEMPTS: ClassVar[int] = 10
    POLL_INTERVAL_S: ClassVar[float] = 3.0
    NOT_READY_RETRY: ClassVar[timedelta] = timedelta(minutes=1)

    def publish(self, creds: Credentials, request: PublishRequest) -> PublishResult:
        items = media_items(request)
        kind = self._kind(request, items)
        user, token = creds.external_id or "me", creds.access_token
        done, container, status = self._saved(request, token)
        if done is not None:          # published already; only the answer was lost after
            return done
        if status == "PUBLISHED":
            # The publish call went through but its answer was lost: the runner reconciles (find_published).
            raise OutcomeUnknown(f"{self.LABEL} already published this post; its id is being looked up.",
                                 platform=self.platform.value, code="PUBLISHED")
        if status in (None, "EXPIRED", "ERROR"):
            container = self._create(user, token, kind, items, request)
            request.save(f"{self.PROGRESS_PREFIX}container", container)
        self._wait(container, token)
        self._check_quota(user, token)
        media_id = self._publish_container(user, token, container)
        request.save(f"{self.PROGRESS_PREFIX}media", media_id)
        return self._result(media_id, token, container)

    def _saved(self, request: PublishRequest, token: str) -> tuple[PublishResult | None, str | None, str | None]:
        """What an earlier attempt left: (the result, when it saved a media id; the saved container; that
        container's status, asked only when there is no media id). publish() and find_published() start here."""
        container = request.progress.get(f"{self.PROGRESS_PREFIX}container")
        media_id = request.progress.get(f"{self.PROGRESS_PREFIX}media")
        if media_id:
            return self._result(media_id, token, container), container, None
        return None, container, self._status(container, token) if container else None

    def _publish_container(self, user: str, token: str, container: str) -> str:
        """Publish a FINISHED container; the new media id."""
        return str(self.post(f"{user}/{self.PUBLISH_EDGE}", token, {"creation_id": container})["id"])

    def _container(self, user: str, token: str, body: dict[str, Any]) -> str:
        # A container is invisible until published: a 5xx or a lost answer here is safe to try again.
        return str(self.post(f"{user}/{self.CONTAINER_EDGE}", token, body, idempotent=True)["id"])

    def _children(self, user: str, token: str, items: Sequence[MediaItem], request: PublishRequest) -> list[str]:
        """A carousel's item containers: the saved ones while all still stand, else new ones (saved)."""
        key = f"{self.PROGRESS_PREFIX}children"
        saved = [c for c in request.progress.get(key, "").split(",") if c]
        if len(saved) != len(items) or any(self._status(c, token) in (None, "EXPIRED", "ERROR") for c in saved):
            saved = [self._container(user, token, self._child(item)) for item in items]
            request.save(key, ",".join(saved))
        for child in saved:           # a carousel parent wants finished children
            self._wait(child, token)
        return saved

    def _status(self, container: str, token: str) -> str | None:
        try:
            return self.get(container, token, fields=self.STATUS_FIELDS).get(self.STATUS_FIELD)
        except Rejected:
            return None               # unknown or deleted container: make a new one

    def _wait(self, container: str, token: str) -> None:
        """Poll the container until FINISHED, a bounded number of times (RetryLater when the bound is hit)."""
        for attempt in range(self.POLL_ATTEMPTS):
            data = self.get(container, token, fields=self.STATUS_FIELDS)
            status = data.get(self.STATUS_FIELD)
            if status in ("FINISHED", "PUBLISHED"):
                return
            if status == "ERROR":
                raise self._container_error(data)
            if status == "EXPIRED":
                raise RetryLater(f"The {self.LABEL} container expired before it was published.", code="EXPIRED")
            if attempt < self.POLL_ATTEMPTS - 1:
                self.sleep(self.POLL_INTERVAL_S)
        raise RetryLater(f"{self.LABEL} is still processing the media.", code="IN_PROGRESS",
                         retry_at=self.clock() + self.NOT_READY_RETRY)

    def _check_quota(self, user: str, token: str) -> None:
        """Read the rolling-window publishing quota (do not guess it); RetryLater when it is used up."""
        limit = self.get(f"{user}/{self.QUOTA_EDGE}", token, fields="quota_usage,config")
        entry = (limit.get("data") or [{}])[0]
        config = entry.get("config") or {}
        used, total = entry.get("quota_usage"), config.get("quota_total")
        if used is None or not total or int(used) < int(total):
            return
        window = timedelta(seconds=int(config.get("quota_duration") or 86400))
        now = self.clock()
        # A slot frees when the oldest post inside the window leaves it (a lower bound: app posts count too).
        posts = self.get(f"{user}/{self.CONTAINER_EDGE}", token, fields="timestamp",
                         **self._quota_listing(int(total), now - window)).get("data") or []
        times = [t for p in posts if (t := parse_graph_time(p.get("timestamp"))) and t > now - window]
        raise RetryLater(f"{self.LABEL} allows {total} API posts per {window.total_seconds() / 3600:g} hours and "
                         f"this {self.QUOTA_HOLDER} has used them all.", code="quota", rate_limited=True,
                         retry_at=min(times) + window if times else now + timedelta(hours=1))

    def _result(self, media_id: str, token: str, container: str | None) -> PublishResult:
        try:
            permalink = self.get(media_id, token, fields="permalink").get("permalink")
        except PlatformError:
            permalink = None          # the post exists; a missing link is not a reason to publish again
        return PublishResult(external_id=media_id, url=permalink,
                             extra={"container_id": container} if container else {})
