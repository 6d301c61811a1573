"""YouTube: Data API v3, one video per post through the resumable upload protocol.

API reference: https://developers.google.com/youtube/v3/docs/videos/insert
(resumable protocol: https://developers.google.com/youtube/v3/guides/using_resumable_upload_protocol;
errors: https://developers.google.com/youtube/v3/docs/errors;
OAuth: https://developers.google.com/identity/protocols/oauth2).

The upload session URL (the `Location` of the first POST) is saved with `request.save`, so
a retry asks the session how far it got (``Content-Range: bytes */N``) and resumes; the same
question after a lost answer tells exactly whether the video exists.
"""
from __future__ import annotations

import re
from datetime import datetime, time as dtime, timedelta
from typing import Any, ClassVar, Mapping, Sequence

import httpx

from core.domain.errors import PlatformError, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms import metric_names
from core.platforms.base import (AccountMetrics, Credentials, OAuthSpec, PlatformAdapter, PostMetrics, Profile,
                                 PublishRequest, PublishResult, TokenSet, json_object, normalize_text)
from core.domain.catalog import Platform
from core.domain.timeutil import UTC, zone

API = "https://www.googleapis.com/youtube/v3"
UPLOAD = "https://www.googleapis.com/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status"
SCOPE = "https://www.googleapis.com/auth/"
QUANTUM = 256 * 1024                     # upload chunks are multiples of 256 KiB (only the last may be shorter)
PRIVACY = ("public", "unlisted", "private")
_RATE = {"rateLimitExceeded", "userRateLimitExceeded"}
# The project's daily quota: quotaExceeded (youtube.quota) and, from the older usageLimits domain, dailyLimitExceeded.
_QUOTA = ("quotaExceeded", "dailyLimitExceeded")
_FORBIDDEN_WORDS = {
    "forbidden": "YouTube does not allow this account to do that.",
    "authenticatedUserAccountSuspended": "This YouTube account is suspended.",
    "authenticatedUserAccountClosed": "This YouTube account is closed.",
    "youtubeSignupRequired": "This Google account has no YouTube channel yet; create one on youtube.com first.",
    "invalidTitle": "YouTube refused the video title.",
    "invalidDescription": "YouTube refused the video description.",
    "invalidTags": "YouTube refused the video's tags.",
}


class YouTubeAdapter(PlatformAdapter):
    platform: ClassVar[Platform] = Platform.YOUTUBE
    oauth: ClassVar[OAuthSpec] = OAuthSpec(
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",
        scopes=(SCOPE + "youtube.upload", SCOPE + "youtube.readonly", SCOPE + "yt-analytics.readonly"),
        # Google sends a refresh token only with offline access, and again only when consent is shown.
        extra_authorize_params={"access_type": "offline", "prompt": "consent"})
    HOSTS: ClassVar[tuple[str, ...]] = ("www.googleapis.com", "accounts.google.com", "oauth2.googleapis.com")
    max_concurrency: ClassVar[int] = 4        # resumable uploads move whole videos
    CHUNK_SIZE: ClassVar[int] = 32 * QUANTUM   # 8 MiB; config option "chunk_size" overrides
    MAX_CHUNKS: ClassVar[int] = 10_000         # a bound on the upload loop, far above any real file

    # ------------------------------------------------------------ errors
    def classify(self, response: httpx.Response) -> PlatformError:
        body = json_object(response)
        error, status = body.get("error"), response.status_code
        if isinstance(error, str):                        # the OAuth token endpoint's shape
            words = body.get("error_description") or error
            if status >= 500:
                return RetryLater(f"Google's login service had a temporary problem: {words}", code=error)
            return ReconnectNeeded(f"Google refused the YouTube authorization ({words}); connect the account again.",
                                   code=error)
        if not isinstance(error, dict):
            return super().classify(response)
        said = error.get("message") or ""
        reasons = [e.get("reason") for e in error.get("errors") or [] if isinstance(e, dict)]
        reason = next((r for r in reasons if r), str(status))
        quota = next((r for r in reasons if r in _QUOTA), None)
        if quota:
            # The project's daily quota (every channel connected through it): nothing was done, and nothing can be
            # until midnight Pacific. A limit, not a failure: the runner holds the account until then.
            reset = self.next_quota_reset()
            # The reset is the retry time: the publisher words it in the post's own time zone.
            return RetryLater(f"YouTube's daily API quota for Outpost's Google project is used up; it resets at "
                              f"midnight Pacific time, and Outpost waits until then. "
                              f"({_plain(said)})", code=quota, retry_at=reset, rate_limited=True)
        if "uploadLimitExceeded" in reasons:
            return RetryLater(f"This YouTube channel reached its upload limit for the day; trying again in 24 hours. "
                              f"({said})", code=reason, retry_at=self.clock() + timedelta(hours=24))
        if _RATE & set(reasons) or status == 429:
            return RetryLater(f"YouTube is rate limiting this account. ({said})", code=reason,
                              retry_at=self.retry_at(response) or self.clock() + timedelta(seconds=60))
        if "insufficientPermissions" in reasons:
            return ReconnectNeeded(f"The YouTube account did not grant a permission Outpost needs; connect it again. "
                                   f"({said})", code=reason)
        if status == 401 and "youtubeSignupRequired" not in reasons:
            return TokenExpired(f"YouTube says the access token is expired or invalid. ({said})", code=reason)
        if status >= 500:
            return RetryLater(f"YouTube had a temporary problem ({status}). ({said})", code=reason,
                              retry_at=self.retry_at(response))
        plain = _FORBIDDEN_WORDS.get(reason, "YouTube refused the request.")
        return Rejected(f"{plain} ({said})" if said else plain, code=reason)

    def next_quota_reset(self) -> datetime:
        """The next midnight in America/Los_Angeles, when the daily API quota resets."""
        pacific = zone("America/Los_Angeles")
        tomorrow = self.clock().astimezone(pacific).date() + timedelta(days=1)
        return datetime.combine(tomorrow, dtime(0), tzinfo=pacific).astimezone(UTC)

    # ------------------------------------------------------------ account
    def fetch_profile(self, token: TokenSet) -> Profile:
        channel = self._channel(token.access_token, "snippet,statistics")
        snippet = channel.get("snippet") or {}
        return Profile(external_id=str(channel["id"]), handle=snippet.get("customUrl") or snippet.get("title") or "",
                       display_name=snippet.get("title") or "",
                       meta={"subscriber_count": _int((channel.get("statistics") or {}).get("subscriberCount"))})

    def account_metrics(self, creds: Credentials) -> AccountMetrics:
        stats = self._channel(creds.access_token, "statistics").get("statistics") or {}
        return AccountMetrics(followers=metric_names.table("youtube").follower_count(stats), raw=stats)

    def _channel(self, token: str, part: str) -> dict:
        items = self.request("GET", f"{API}/channels", token=token, params={"part": part, "mine": "true"}).json()
        if not items.get("items"):
            raise Rejected(_FORBIDDEN_WORDS["youtubeSignupRequired"], platform=self.platform.value, code="no_channel")
        return items["items"][0]

    # ------------------------------------------------------------ publishing
    def publish(self, creds: Credentials, request: PublishRequest) -> PublishResult:
        if len(request.media) != 1 or request.media[0].kind != "video":
            raise Rejected("A YouTube post is exactly one video.", platform=self.platform.value, code="needs_one_video")
        token, media = creds.access_token, request.media[0]
        data = self.download_media(media, allowed_types=("video/",))
        mime = media.mime if (media.mime or "").startswith("video/") else "application/octet-stream"
        offset, session = 0, request.progress.get("upload_session")
        if session:
            offset, video = self._resume_point(token, session, len(data))
            if video is not None:
                return self._result(video)
        if offset is None or not session:                 # no session yet, or it expired before finishing
            session, offset = self._start_session(token, request, len(data), mime), 0
            request.save("upload_session", session)
            request.save("upload_size", str(len(data)))
        return self._result(self._upload(token, session, data, offset, mime))

    def metadata(self, request: PublishRequest) -> dict:
        """The snippet and status for videos.insert, within YouTube's field rules."""
        content, title = request.content, self.title(request)
        if not title:
            raise Rejected("A YouTube video needs a title.", platform=self.platform.value, code="no_title")
        # The API refuses < and > in descriptions too, and counts the 5000 limit in UTF-8 bytes.
        description = re.sub(r"[<>]", "", content.text).encode()[:5000].decode("utf-8", "ignore")
        tags, used = [], 0
        for tag in (h.lstrip("#") for h in content.hashtags):
            cost = len(tag) + (2 if " " in tag else 0) + (1 if tags else 0)   # 500 chars combined, with commas
            if tag and used + cost <= 500:
                tags.append(tag)
                used += cost
        privacy = request.options.get("privacy_status", "public")
        if privacy not in PRIVACY:
            raise Rejected(f"'{privacy}' is not a YouTube privacy setting; use public, unlisted or private.",
                           platform=self.platform.value, code="invalid_privacy")
        if self.config.options.get("unaudited"):
            privacy = "private"
        return {"snippet": {"title": title, "description": description, "tags": tags,
                            "categoryId": str(request.options.get("category_id", "22"))},
                "status": {"privacyStatus": privacy,
                           "selfDeclaredMadeForKids": bool(request.options.get("made_for_kids", False))}}

    @staticmethod
    def title(request: PublishRequest) -> str:
        """content.title, else the caption's first line: at most 100 characters, without < or >."""
        first_line = next(iter((request.content.caption or request.content.text).strip().splitlines()), "")
        return re.sub(r"[<>]", "", request.content.title or first_line).strip()[:100].strip()

    def _start_session(self, token: str, request: PublishRequest, size: int, mime: str) -> str:
        # Opening a session creates no video (that happens when the last byte lands), so a
        # lost answer here is safe to retry rather than a case for reconciliation.
        response = self.request("POST", UPLOAD, token=token, idempotent=True, json=self.metadata(request),
                                headers={"Content-Type": "application/json; charset=UTF-8",
                                         "X-Upload-Content-Length": str(size), "X-Upload-Content-Type": mime})
        location = response.headers.get("location")
        if not location:
            raise RetryLater("YouTube did not return an upload session.", platform=self.platform.value,
                             code="no_upload_session")
        return location

    def _resume_point(self, token: str, session: str, size: int) -> tuple[int | None, dict | None]:
        """(next byte to send, None); (size, video) if the upload finished; (None, None) if the session is gone."""
        try:
            response = self._put(token, session, b"", {"Content-Range": f"bytes */{size}"})
        except Rejected as exc:
            if exc.http_status in (404, 410):             # expired session: nothing was created, start over
                return None, None
            raise
        if response.status_code in (200, 201):
            return size, response.json()
        return _next_offset(response), None

    def _upload(self, token: str, session: str, data: bytes, offset: int, mime: str) -> dict:
        chunk = max(QUANTUM, int(self.config.options.get("chunk_size", self.CHUNK_SIZE)) // QUANTUM * QUANTUM)
        total = len(data)
        for _ in range(self.MAX_CHUNKS):
            end = min(offset + chunk, total)
            response = self._put(token, session, data[offset:end],
                                 {"Content-Type": mime, "Content-Range": f"bytes {offset}-{end - 1}/{total}"})
            if response.status_code in (200, 201):
                return response.json()
            offset = _next_offset(response)
        raise RetryLater("The YouTube upload did not finish; it will resume.", platform=self.platform.value,
                         code="upload_incomplete")

    def _put(self, token: str, session: str, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
        # Re-sending a byte range is harmless and the saved session answers "did it finish?",
        # so a lost answer is a RetryLater, not an OutcomeUnknown. 308 is not a redirect here.
        return self.request("PUT", session, token=token, idempotent=True, content=body, headers=headers,
                            follow_redirects=False)

    def _result(self, video: Mapping[str, Any]) -> PublishResult:
        extra: dict[str, Any] = {"privacy_status": (video.get("status") or {}).get("privacyStatus")}
        if self.config.options.get("unaudited"):
            extra["note"] = ("Uploaded as private: this Google API project has not passed YouTube's audit, and "
                             "YouTube keeps such uploads private.")
        return PublishResult(str(video["id"]), url=f"https://www.youtube.com/watch?v={video['id']}", extra=extra)

    # ------------------------------------------------------------ reconciliation and metrics
    def find_published(self, creds: Credentials, request: PublishRequest, *, since: datetime) -> PublishResult | None:
        # The saved session knows exactly; without one no byte was sent, so no video exists,
        # but the uploads playlist is checked too in case the session has expired.
        session, size = request.progress.get("upload_session"), request.progress.get("upload_size")
        if session and size:
            _, video = self._resume_point(creds.access_token, session, int(size))
            if video is not None:
                return self._result(video)
        uploads = self._channel(creds.access_token, "contentDetails")["contentDetails"]["relatedPlaylists"]["uploads"]
        items = self.request("GET", f"{API}/playlistItems", token=creds.access_token,
                             params={"part": "snippet", "playlistId": uploads, "maxResults": "50"}).json()
        title = normalize_text(self.title(request))
        since = since.replace(microsecond=0)               # publishedAt is given in whole seconds
        for item in items.get("items") or []:
            snippet = item.get("snippet") or {}
            published = _parse_time(snippet.get("publishedAt"))
            if normalize_text(snippet.get("title") or "") == title and published and published >= since:
                video_id = (snippet.get("resourceId") or {}).get("videoId") or item.get("id")
                return PublishResult(str(video_id), url=f"https://www.youtube.com/watch?v={video_id}",
                                     extra={"reconciled": True})
        return None

    def post_metrics(self, creds: Credentials, external_ids: Sequence[str]) -> dict[str, PostMetrics]:
        out: dict[str, PostMetrics] = {}
        ids = [str(i) for i in external_ids]
        names = metric_names.table("youtube")
        for start in range(0, len(ids), names.batch):         # videos.list takes up to 50 ids, 1 unit a call
            body = self.request("GET", f"{API}/videos", token=creds.access_token,
                                params={"part": "statistics", "id": ",".join(ids[start:start + names.batch])}).json()
            for item in body.get("items") or []:
                stats = item.get("statistics") or {}     # counts arrive as strings; a hidden one is left out
                out[str(item["id"])] = PostMetrics(str(item["id"]), values=names.normalise(stats), raw=stats)
        return out


def _plain(message: str) -> str:
    """Google's error message without its HTML (the quota message links the quota page)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", message or "")).strip()


def _next_offset(response: httpx.Response) -> int:
    """308 Resume Incomplete: `Range: bytes=0-N` means N+1 bytes arrived; no Range means none did."""
    match = re.search(r"bytes=\d+-(\d+)", response.headers.get("range", ""))
    return int(match.group(1)) + 1 if match else 0


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _parse_time(value: str | None) -> datetime | None:
    try:
        parsed = datetime.fromisoformat((value or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
