"""Mastodon: OAuth on one instance, statuses with an Idempotency-Key, media attachments, metrics.

API reference: https://docs.joinmastodon.org/methods/statuses/ , https://docs.joinmastodon.org/methods/media/ ,
https://docs.joinmastodon.org/methods/oauth/ , https://docs.joinmastodon.org/api/rate-limits/ . Facts sheet §9.

One instance per Outpost installation for now: its base URL is `PlatformConfig.options["instance"]`
(`OUTPOST_MASTODON_OPTIONS='{"instance": "https://fosstodon.org"}'`, default https://mastodon.social).
The operator registers an application on that instance (Preferences > Development > New application,
scopes `read`, `write:statuses`, `write:media`, redirect URI = the dashboard's root) and gives its client
id and secret as OUTPOST_MASTODON_CLIENT_ID / _SECRET. The next step is per-user instances: register an
app on the person's own instance on the fly (POST /api/v1/apps) and keep its credentials with the account.

Mastodon is our reference for exactly-once publishing: `POST /api/v1/statuses` with an `Idempotency-Key`
returns the status already made with that key (for an hour, per account) instead of posting twice, so the
key is derived from the delivery and a retry after a lost answer cannot duplicate the post within that hour.
Past it the key is gone, so a lost answer (or any 5xx on the post) is reconciled first (find_published).
"""
from __future__ import annotations

import hashlib
import html
import mimetypes
import re
from datetime import datetime, timedelta
from typing import Any, Callable, ClassVar, Sequence

import httpx

from core.domain.errors import OutcomeUnknown, PlatformError, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms import metric_names
from core.platforms.base import (AccountMetrics, Credentials, MediaItem, OAuthSpec, PlatformAdapter, PostMetrics,
                                 Profile, PublishRequest, PublishResult, TokenSet, host_of, json_object,
                                 normalize_text)
from core.domain.catalog import Platform
from core.domain.timeutil import UTC

DEFAULT_INSTANCE = "https://mastodon.social"
# read covers read:accounts (verify_credentials) and read:statuses (listing, metrics); facts §9.1.
DEFAULT_SCOPES = ("read", "write:statuses", "write:media")
VISIBILITIES = ("public", "unlisted", "private", "direct")
BATCH = 20                  # statuses per GET /api/v1/statuses?id[]= (Mastodon 4.3+)
# Mastodon answers a repeated Idempotency-Key with the first status for an hour after that status was made;
# reconciliation counts on it only this long after `since` (a margin for the re-post that follows).
IDEMPOTENCY_WINDOW = timedelta(minutes=50)
# A file given by address is downloaded at most this big (Mastodon's default caps: 16 MB images, 99 MB videos).
MEDIA_DOWNLOAD_MAX = 100 * 1_000_000
# core.media fetch failures worth another attempt later (the rest are the link's fault, for good).
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p[^>]*>", re.I)
_REMOTE_MENTION = re.compile(r"(@[\w.]+)@[\w.-]+\.\w+")


def instance_url(value: Any) -> str:
    """"fosstodon.org", "https://fosstodon.org/" -> "https://fosstodon.org"."""
    text = str(value or DEFAULT_INSTANCE).strip().rstrip("/")
    return text if text.startswith(("http://", "https://")) else "https://" + text


def comparable(text: str) -> str:
    """Text as a status's HTML content reads once the tags are gone (mentions lose their domain)."""
    return _REMOTE_MENTION.sub(r"\1", normalize_text(text))


def plain(content_html: str) -> str:
    """A status's `content` (HTML) as plain text: paragraphs and breaks become spaces, entities unescaped."""
    return comparable(html.unescape(_TAG.sub("", _BREAK.sub(" ", content_html or ""))))


def _attachments(status: dict) -> list[dict]:
    return [a for a in status.get("media_attachments") or [] if isinstance(a, dict)]


def _created(status: dict) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(status.get("created_at") or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class MastodonAdapter(PlatformAdapter):
    platform: ClassVar[Platform] = Platform.MASTODON
    HOSTS: ClassVar[tuple[str, ...]] = ("mastodon.social",)     # the sandbox serves the default instance
    IDEMPOTENCY_TTL: ClassVar[timedelta] = timedelta(minutes=55)  # Mastodon remembers a key for an hour

    def idempotent_retry(self, request: PublishRequest, *, sent_at: datetime, now: datetime) -> bool:
        # The same Idempotency-Key within the hour answers with the status already made, not a second one; but
        # only once the first request is done: Mastodon records the key after it made the status, so two requests
        # in flight at once could both post. So the key replaces the listing's second look, not the settle window.
        return bool(request.marker) and self.settle_window <= now - sent_at < self.IDEMPOTENCY_TTL
    MEDIA_POLLS: ClassVar[int] = 30

    @property
    def base(self) -> str:
        return instance_url(self.config.options.get("instance"))

    @property
    def oauth(self) -> OAuthSpec:  # type: ignore[override] - the URLs depend on the configured instance
        # PKCE S256 is supported since Mastodon 4.3; older instances ignore the extra parameters.
        scopes = self.config.options.get("scopes") or DEFAULT_SCOPES
        return OAuthSpec(authorize_url=f"{self.base}/oauth/authorize", token_url=f"{self.base}/oauth/token",
                         scopes=tuple(scopes.split() if isinstance(scopes, str) else scopes), pkce=True)

    # ------------------------------------------------------------ errors
    def classify(self, response: httpx.Response) -> PlatformError:
        status = response.status_code
        body = json_object(response)
        said = str(body.get("error_description") or body.get("error") or "").strip()
        if status == 401:
            if "expired" in said.lower():
                return TokenExpired("Mastodon says the access token expired.", code="token_expired")
            if body.get("error_description"):      # the token endpoint (invalid_client and the like)
                return ReconnectNeeded(f"Mastodon refused the authorization: {said}", code=str(body.get("error")))
            return ReconnectNeeded("Mastodon no longer accepts Outpost's access for this account (it was revoked, "
                                   "or the app was removed from the instance). Connect the account again.",
                                   code="token_revoked")
        if status == 403 and "scope" in said.lower():
            return ReconnectNeeded(f"Mastodon says Outpost lacks a permission ({said}). Connect the account again "
                                   "and allow everything it asks for.", code="scope")
        if status == 422 and "not finished processing" in said.lower():
            return RetryLater("Mastodon is still processing the media.", code="media_not_ready",
                              retry_at=self.clock() + timedelta(seconds=30))
        if status == 429:
            return RetryLater(f"Mastodon is rate limiting this account ({said or 'too many requests'}).", code="429",
                              rate_limited=True,
                              retry_at=self.retry_at(response))
        if status >= 500:
            request = response.request
            if request.method == "POST" and request.url.path.endswith("/api/v1/statuses"):
                # Any 5xx on the post itself (a gateway that gave up, a crash after the insert, a timeout in a
                # worker) may come after the status was made. Retrying blindly is not safe: Mastodon keeps the
                # Idempotency-Key only for an hour, and only once the status exists. Reconcile first.
                return OutcomeUnknown(f"Mastodon had a problem ({status}) while posting; the post may have gone "
                                      "out.", code=str(status))
            return RetryLater(f"Mastodon had a temporary problem ({status}).", code=str(status),
                              retry_at=super().retry_at(response))
        if status == 422:
            return Rejected(f"Mastodon refused the post: {said or 'validation failed'}", code="422")
        if status == 404:
            return Rejected(f"Mastodon could not find that ({said or 'not found'}).", code="404")
        return Rejected(f"Mastodon refused the request ({status}{': ' + said if said else ''}).", code=str(status))

    def retry_at(self, response: httpx.Response) -> datetime | None:
        """Mastodon's X-RateLimit-Reset is an ISO 8601 time, not seconds."""
        reset = response.headers.get("x-ratelimit-reset", "")
        try:
            moment = datetime.fromisoformat(reset.strip().replace("Z", "+00:00"))
        except ValueError:
            return super().retry_at(response)
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)

    # ------------------------------------------------------------ OAuth and profile
    def missing_scopes(self, token: TokenSet) -> tuple[str, ...]:
        """A granted parent scope ("write") covers its children ("write:statuses")."""
        granted = set(token.scopes)
        if not granted:
            return ()
        return tuple(s for s in self.oauth.scopes if s not in granted and s.split(":")[0] not in granted)

    def refresh(self, creds: Credentials) -> TokenSet:
        """Mastodon tokens do not expire, so there is nothing to renew: a refused token was revoked."""
        if creds.refresh_token:          # an instance that does issue refresh tokens
            return super().refresh(creds)
        raise ReconnectNeeded("Mastodon access does not expire and cannot be renewed: this connection was revoked "
                              "(the app was removed under Preferences > Account > Authorized apps, or the password "
                              "changed). Connect the account again.", platform=self.platform.value,
                              code="no_refresh_token")

    def fetch_profile(self, token: TokenSet) -> Profile:
        account = self.request("GET", f"{self.base}/api/v1/accounts/verify_credentials",
                               token=token.access_token).json()
        domain = host_of(self.base)
        return Profile(external_id=str(account["id"]), handle=f"@{account['username']}@{domain}",
                       display_name=account.get("display_name") or account["username"],
                       meta={"username": account["username"], "instance": self.base, "profile_url": account.get("url")})

    # ------------------------------------------------------------ publishing
    @staticmethod
    def idempotency_key(marker: str) -> str:
        """The same delivery always sends the same key, so Mastodon answers a retry with the first status."""
        return "outpost-" + hashlib.sha256(marker.encode("utf-8")).hexdigest()[:40]

    def publish(self, creds: Credentials, request: PublishRequest) -> PublishResult:
        """Upload the media (waiting for processing), then post the status with the delivery's Idempotency-Key."""
        progress = dict(request.progress)
        if progress.get("status"):
            return PublishResult(progress["status"], progress.get("status_url") or None)

        def save(key: str, value: str) -> None:
            progress[key] = value
            request.save(key, value)

        options = request.options
        body: dict[str, Any] = {"status": request.content.text}
        media_ids = [self._upload(creds, item, i, progress, save) for i, item in enumerate(request.media)]
        if media_ids:
            body["media_ids"] = media_ids
        visibility = options.get("visibility")
        if visibility:
            if visibility not in VISIBILITIES:
                raise Rejected(f"Mastodon visibility must be one of {', '.join(VISIBILITIES)} (not {visibility!r}).",
                               platform=self.platform.value, code="visibility")
            body["visibility"] = visibility
        for key in ("spoiler_text", "language"):
            if options.get(key):
                body[key] = str(options[key])
        if options.get("sensitive") is not None:
            body["sensitive"] = bool(options["sensitive"])
        headers = {"Idempotency-Key": self.idempotency_key(request.marker)} if request.marker else {}
        status = self.request("POST", f"{self.base}/api/v1/statuses", token=creds.access_token, json=body,
                              headers=headers).json()
        save("status", str(status["id"]))
        save("status_url", self._url_of(status) or "")
        return PublishResult(str(status["id"]), self._url_of(status), extra={"uri": status.get("uri")})

    # ------------------------------------------------------------ threads (a status replying to the one before)
    def reply_resend_safe(self, sent_at: datetime) -> bool:
        # Each reply has its own Idempotency-Key (the delivery's marker and the reply's place in the thread); as
        # for the post itself, it stands in for the listing's second look only once the first request is done.
        return self.settle_window <= self.clock() - sent_at < self.IDEMPOTENCY_TTL

    def post_reply(self, creds: Credentials, request: PublishRequest, parent_id: str, text: str, index: int) -> str:
        body: dict[str, Any] = {"status": text, "in_reply_to_id": parent_id}
        if request.options.get("visibility") in VISIBILITIES:
            body["visibility"] = request.options["visibility"]
        headers = {"Idempotency-Key": self.idempotency_key(f"{request.marker}:reply:{index}")} if request.marker else {}
        status = self.request("POST", f"{self.base}/api/v1/statuses", token=creds.access_token, json=body,
                              headers=headers).json()
        return str(status["id"])

    def find_reply(self, creds: Credentials, parent_id: str, text: str, *, since: datetime) -> str | None:
        statuses = self.request("GET", f"{self.base}/api/v1/accounts/{creds.external_id}/statuses",
                                params={"limit": 40, "exclude_reblogs": "true"}, token=creds.access_token).json()
        wanted = comparable(text)
        for status in statuses if isinstance(statuses, list) else ():
            made = _created(status) if isinstance(status, dict) else None
            if (isinstance(status, dict) and str(status.get("in_reply_to_id") or "") == str(parent_id)
                    and plain(status.get("content", "")) == wanted and (made is None or made >= since)):
                return str(status["id"])
        return None

    def _upload(self, creds: Credentials, item: MediaItem, index: int, progress: dict, save: Callable) -> str:
        """POST /api/v2/media, then wait while it answers 202/206 (processing); returns the attachment id."""
        done, pending = f"media:{index}", f"media_pending:{index}"
        if done in progress:
            return progress[done]
        if pending in progress:
            media_id = progress[pending]
        else:
            data = self.download_media(item, max_bytes=MEDIA_DOWNLOAD_MAX)
            mime = item.mime or mimetypes.guess_type(item.url.split("?")[0])[0] or (
                "video/mp4" if item.kind == "video" else "image/jpeg")
            name = "upload" + (mimetypes.guess_extension(mime) or "")
            form = {"description": item.alt_text} if item.alt_text else {}
            # An attachment publishes nothing, so a lost answer is safe to retry: idempotent=True.
            answer = self.request("POST", f"{self.base}/api/v2/media", token=creds.access_token, idempotent=True,
                                  data=form, files={"file": (name, data, mime)})
            attachment = answer.json()
            media_id = str(attachment["id"])
            if answer.status_code == 200 and attachment.get("url"):
                save(done, media_id)
                return media_id
            save(pending, media_id)
        for attempt in range(self.MEDIA_POLLS):
            answer = self.request("GET", f"{self.base}/api/v1/media/{media_id}", token=creds.access_token)
            if answer.status_code == 200 and answer.json().get("url"):
                save(done, media_id)
                return media_id
            self.sleep(float(min(1 + attempt, 5)))
        raise RetryLater("Mastodon is still processing the media.", platform=self.platform.value,
                         code="media_in_progress", retry_at=self.clock() + timedelta(minutes=1))

    def _url_of(self, status: dict) -> str | None:
        return status.get("url") or status.get("uri")

    # ------------------------------------------------------------ reconciliation
    def find_published(self, creds: Credentials, request: PublishRequest, *, since: datetime) -> PublishResult | None:
        """This delivery's status among the account's latest 40 (newest first), made at or after `since`.

        With media, the attachment ids saved before the status was posted are exact: an attachment belongs to
        one status only, so a status carrying ours is this delivery's, and none carrying them means it is not
        there (a re-post could not reuse them anyway: Mastodon refuses attachments already on a status).
        Otherwise the text must match, and so must the number of attachments and their descriptions (alt text).

        Without text and without those ids, another media-only post of the account could pass for this one, so
        no listing match is trusted. Returning None ("not there") is still safe while the Idempotency-Key of the
        lost attempt lives (an hour from the status, so from `since`): the re-post sends the same key and Mastodon
        answers with the status it already made instead of posting a second one. After that window a look-alike
        in the listing means Outpost cannot tell: a Rejected (code ``ambiguous``) hands it to a person.
        """
        if request.progress.get("status"):
            return PublishResult(request.progress["status"], request.progress.get("status_url") or None)
        statuses = self.request("GET", f"{self.base}/api/v1/accounts/{creds.external_id}/statuses",
                                params={"limit": 40, "exclude_reblogs": "true"}, token=creds.access_token).json()
        statuses = [s for s in statuses if isinstance(s, dict)] if isinstance(statuses, list) else []
        ours = self._attachment_ids(request)
        if ours:
            for status in statuses:
                if sorted(str(a.get("id")) for a in _attachments(status)) == sorted(ours):
                    return PublishResult(str(status["id"]), self._url_of(status))
            return None
        wanted = comparable(request.content.text)
        alts = [normalize_text(item.alt_text or "") for item in request.media]
        alike = []
        for status in statuses:
            made = _created(status)
            attached = _attachments(status)
            if made is None or made < since or plain(status.get("content", "")) != wanted:
                continue
            if len(attached) != len(request.media):
                continue
            described = [normalize_text(a.get("description") or "") for a in attached]
            if any("description" in a for a in attached) and sorted(described) != sorted(alts):
                continue
            if wanted:
                return PublishResult(str(status["id"]), self._url_of(status))
            alike.append(status)
        if not alike:
            return None
        if request.marker and self.clock() - since < IDEMPOTENCY_WINDOW:
            return None               # media-only: the re-post's Idempotency-Key answers with the first status
        raise Rejected(f"An earlier attempt may have posted this media-only status, and {len(alike)} of the "
                       "account's recent statuses without text look like it; Outpost cannot tell whether one of "
                       "them is this delivery's. Check the account, then mark it published or try again.",
                       platform=self.platform.value, code="ambiguous")

    @staticmethod
    def _attachment_ids(request: PublishRequest) -> list[str]:
        """The attachment ids this delivery uploaded (saved before the status was posted); [] unless all known."""
        ids = [request.progress.get(f"media:{i}") for i in range(len(request.media))]
        return [str(i) for i in ids] if ids and all(ids) else []

    # ------------------------------------------------------------ metrics
    def post_metrics(self, creds: Credentials, external_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """Favourites, boosts and replies per status, 20 a call (one by one on instances older than 4.3)."""
        out: dict[str, PostMetrics] = {}
        ids = list(dict.fromkeys(external_ids))
        for start in range(0, len(ids), BATCH):
            chunk = ids[start:start + BATCH]
            try:
                statuses = self.request("GET", f"{self.base}/api/v1/statuses", params=[("id[]", i) for i in chunk],
                                        token=creds.access_token).json()
            except Rejected as exc:
                if exc.http_status != 404:
                    raise
                statuses = [s for s in (self._one(creds, i) for i in chunk) if s]
            for status in statuses:
                out[str(status["id"])] = self._metrics(status)
        return out

    def _one(self, creds: Credentials, status_id: str) -> dict | None:
        try:
            return self.request("GET", f"{self.base}/api/v1/statuses/{status_id}", token=creds.access_token).json()
        except Rejected as exc:
            if exc.http_status == 404:     # deleted since
                return None
            raise

    @staticmethod
    def _metrics(status: dict) -> PostMetrics:
        raw = {k: status[k] for k in ("favourites_count", "reblogs_count", "replies_count", "quotes_count")
               if status.get(k) is not None}
        return PostMetrics(str(status["id"]), metric_names.table("mastodon").normalise(raw), raw)

    def account_metrics(self, creds: Credentials) -> AccountMetrics:
        account = self.request("GET", f"{self.base}/api/v1/accounts/verify_credentials",
                               token=creds.access_token).json()
        raw = {k: account.get(k) for k in ("followers_count", "following_count", "statuses_count")}
        return AccountMetrics(followers=metric_names.table("mastodon").follower_count(raw), raw=raw)
