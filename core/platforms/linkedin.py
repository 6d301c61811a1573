"""LinkedIn: the Posts API (Community Management), as a member or as an organization Page.

API reference: https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api
(images-api, videos-api, organizations/share-statistics, and the error-handling and rate-limit concept pages).
Facts sheet §3.
"""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any, ClassVar, Mapping, Sequence
from urllib.parse import quote

import httpx

from core.domain.errors import OutcomeUnknown, PlatformError, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms import metric_names
from core.platforms.base import (AccountMetrics, Credentials, MediaItem, OAuthSpec, PlatformAdapter, PostMetrics,
                                 Profile, PublishRequest, PublishResult, TokenSet, json_object, normalize_text)
from core.domain.catalog import Platform
from core.domain.timeutil import UTC

API = "https://api.linkedin.com"
ORG_SCOPES = ("w_organization_social", "r_organization_social", "rw_organization_admin")
# "Little text": an unescaped reserved character makes LinkedIn silently cut the post there (and still answer 201).
_RESERVED = re.compile(r"([\\|{}@\[\]()<>#*_~])")
_UNESCAPE = re.compile(r"\\([\\|{}@\[\]()<>#*_~])")
# memberCreatorPostAnalytics answers one queryType per call.
# core.platforms.metric_names: a member's post analytics (one queryType a call) and an organization's share
# statistics (20 posts a call).
_MEMBER = metric_names.table("linkedin", "member")
_ORG = metric_names.table("linkedin")


def escape_little_text(text: str) -> str:
    """Backslash-escape LinkedIn's reserved characters so the commentary is posted whole."""
    return _RESERVED.sub(r"\\\1", text)


def unescape_little_text(text: str) -> str:
    return _UNESCAPE.sub(r"\1", text)


def _enc(urn: str) -> str:
    return quote(urn, safe="")


class LinkedInAdapter(PlatformAdapter):
    platform: ClassVar[Platform] = Platform.LINKEDIN
    oauth: ClassVar[OAuthSpec] = OAuthSpec(
        authorize_url="https://www.linkedin.com/oauth/v2/authorization",
        token_url="https://www.linkedin.com/oauth/v2/accessToken",
        scopes=("openid", "profile", "w_member_social", "r_member_postAnalytics"))
    HOSTS: ClassVar[tuple[str, ...]] = ("www.linkedin.com", "api.linkedin.com")
    DEFAULT_VERSION: ClassVar[str] = "202607"   # each monthly version lives >= 12 months; sunset ones are refused
    VIDEO_POLLS: ClassVar[int] = 20
    VIDEO_POLL_S: ClassVar[float] = 3.0
    # Listing a member's own posts needs r_member_social, which LinkedIn does not grant to ordinary apps, and the
    # organization listing is "best effort": a miss proves nothing. See find_published.
    reliable_listing: ClassVar[bool] = False
    duplicate_codes: ClassVar[frozenset[str]] = frozenset({"DUPLICATE_POST"})   # 422 (unverified)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.config.options.get("organization"):
            self.oauth = replace(self.oauth, scopes=self.oauth.scopes + ORG_SCOPES)  # type: ignore[misc]

    # ------------------------------------------------------------ HTTP helpers
    def _rest(self, method: str, path: str, token: str, **kwargs) -> httpx.Response:
        """A /rest call: LinkedIn applies no default version, so every call names one."""
        headers = {"LinkedIn-Version": self.config.api_version or self.DEFAULT_VERSION,
                   "X-Restli-Protocol-Version": "2.0.0", **kwargs.pop("headers", {})}
        return self.request(method, API + path, token=token, headers=headers, **kwargs)

    def classify(self, response: httpx.Response) -> PlatformError:
        status = response.status_code
        body = json_object(response)
        service_code = body.get("serviceErrorCode")
        inputs = (body.get("errorDetails") or {}).get("inputErrors") or [{}]   # e.g. DUPLICATE_POST on a 422
        code = str(body.get("code") or inputs[0].get("code") or service_code or status)
        message = body.get("message") or ""
        if status == 401:
            if service_code == 65601 or body.get("code") == "REVOKED_ACCESS_TOKEN":
                return ReconnectNeeded("LinkedIn says the member revoked Outpost's access; connect the account again.",
                                       code=code)
            return TokenExpired(f"LinkedIn did not accept the access token ({message or 'expired or invalid'}).",
                                code=code)
        if status == 429:
            # LinkedIn's limits are daily, reset at midnight UTC, and come with no Retry-After header.
            midnight = datetime.combine(self.clock().astimezone(UTC).date() + timedelta(days=1), time(), UTC)
            return RetryLater("LinkedIn's daily limit for this account or app is used up; it resets at midnight UTC.",
                              code=code, retry_at=midnight, rate_limited=True)
        if status >= 500:
            return RetryLater(f"LinkedIn had a temporary problem ({status}).", code=code)
        if status == 403:
            return Rejected(f"LinkedIn denied access: the account lacks the permission or Page role for this "
                            f"({message or 'access denied'}).", code=code)
        if status == 422:
            return Rejected(f"LinkedIn refused the post as invalid or a duplicate ({message}).", code=code)
        return Rejected(f"LinkedIn refused the request ({status}{': ' + message if message else ''}).", code=code)

    # ------------------------------------------------------------ OAuth and profile
    def refresh(self, creds: Credentials) -> TokenSet:
        """A new 60-day access token. The refresh token's 365 days count from the FIRST grant and never reset."""
        first_deadline = creds.refresh_expires_at or _as_datetime(creds.meta.get("refresh_expires_at"))
        if first_deadline and first_deadline <= self.clock():
            raise ReconnectNeeded("LinkedIn's one-year refresh token has run out; connect the account again.",
                                  platform=self.platform.value, code="refresh_token_expired")
        token = super().refresh(creds)
        deadlines = [d for d in (first_deadline, token.refresh_expires_at) if d]
        return replace(token, refresh_expires_at=min(deadlines) if deadlines else None)

    def fetch_profile(self, token: TokenSet) -> Profile:
        data = self.request("GET", f"{API}/v2/userinfo", token=token.access_token).json()
        person = f"urn:li:person:{data['sub']}"
        name = data.get("name") or " ".join(filter(None, (data.get("given_name"), data.get("family_name"))))
        org = self.config.options.get("organization")
        if org:
            org_urn = str(org) if str(org).startswith("urn:li:") else f"urn:li:organization:{org}"
            return Profile(external_id=org_urn, handle=org_urn, display_name=name,
                           meta={"author": org_urn, "person": person, "organization": org_urn})
        return Profile(external_id=person, handle=name or person, display_name=name,
                       meta={"author": person, "person": person})

    def _author(self, creds: Credentials) -> str:
        author = creds.meta.get("author") or creds.external_id or ""
        if not author:
            raise ReconnectNeeded("This LinkedIn account has no member or organization id; connect it again.",
                                  platform=self.platform.value, code="no_author")
        return author if author.startswith("urn:li:") else f"urn:li:person:{author}"

    # ------------------------------------------------------------ publishing
    def publish(self, creds: Credentials, request: PublishRequest) -> PublishResult:
        author = self._author(creds)
        media = request.media
        videos = [m for m in media if m.kind == "video"]
        if videos and len(media) > 1:
            raise Rejected("LinkedIn takes one video per post, with no other media.", platform=self.platform.value,
                           code="media_mix")
        if len(media) > 20:
            raise Rejected("LinkedIn takes at most 20 images in one post.", platform=self.platform.value,
                           code="too_many_images")
        progress = dict(request.progress)

        def save(key: str, value: str) -> None:
            progress[key] = value
            request.save(key, value)

        content: dict[str, Any] | None = None
        if videos:
            urn = self._upload_video(creds, author, videos[0], progress, save)
            content = {"media": {"id": urn, "title": request.content.title or ""}}
        elif media:
            images = []
            for i, item in enumerate(media):
                key = f"image:{i}"
                if key not in progress:   # a retry reuses what an earlier attempt uploaded
                    save(key, self._upload_image(creds, author, item))
                images.append({"id": progress[key], **({"altText": item.alt_text} if item.alt_text else {})})
            content = {"media": images[0]} if len(images) == 1 else {"multiImage": {"images": images}}
        body: dict[str, Any] = {
            "author": author, "commentary": escape_little_text(request.content.text),
            "visibility": request.options.get("visibility", "PUBLIC"),
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                             "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED", "isReshareDisabledByAuthor": False}
        if content:
            body["content"] = content
        response = self._rest("POST", "/rest/posts", creds.access_token, json=body)
        # 201 with an empty body: the new post's URN is only in this header.
        urn = response.headers.get("x-restli-id", "")
        if not urn:
            raise OutcomeUnknown("LinkedIn accepted the post but did not say its id.", platform=self.platform.value,
                                 code="no_restli_id")
        return PublishResult(external_id=urn, url=f"https://www.linkedin.com/feed/update/{urn}/")

    def _bytes(self, item: MediaItem) -> bytes:
        return self.download_media(item)

    def _upload_image(self, creds: Credentials, author: str, item: MediaItem) -> str:
        # Initializing and uploading change nothing visible, so a lost answer is safe to retry (idempotent=True).
        data = self._bytes(item)
        value = self._rest("POST", "/rest/images?action=initializeUpload", creds.access_token, idempotent=True,
                           json={"initializeUploadRequest": {"owner": author}}).json()["value"]
        self.request("PUT", value["uploadUrl"], token=creds.access_token, content=data, idempotent=True,
                     headers={"Content-Type": item.mime or "application/octet-stream"})
        return value["image"]

    def _upload_video(self, creds: Credentials, author: str, item: MediaItem, progress: Mapping[str, str],
                      save) -> str:
        if "video" not in progress:
            data = self._bytes(item)
            value = self._rest("POST", "/rest/videos?action=initializeUpload", creds.access_token, idempotent=True,
                               json={"initializeUploadRequest": {"owner": author, "fileSizeBytes": len(data),
                                                                 "uploadCaptions": False,
                                                                 "uploadThumbnail": False}}).json()["value"]
            etags = []
            for part in value["uploadInstructions"]:   # finalize wants the ETags in upload order
                chunk = data[int(part["firstByte"]):int(part["lastByte"]) + 1]
                put = self.request("PUT", part["uploadUrl"], token=creds.access_token, content=chunk, idempotent=True,
                                   headers={"Content-Type": "application/octet-stream"})
                etags.append(put.headers.get("etag", ""))
            self._rest("POST", "/rest/videos?action=finalizeUpload", creds.access_token, idempotent=True,
                       json={"finalizeUploadRequest": {"video": value["video"], "uploadToken": value.get("uploadToken", ""),
                                                       "uploadedPartIds": etags}})
            save("video", value["video"])
        urn = progress["video"]
        for attempt in range(self.VIDEO_POLLS):
            status = self._rest("GET", f"/rest/videos/{_enc(urn)}", creds.access_token).json().get("status")
            if status == "AVAILABLE":
                return urn
            if status == "PROCESSING_FAILED":
                raise Rejected("LinkedIn could not process the video.", platform=self.platform.value,
                               code="PROCESSING_FAILED")
            if attempt < self.VIDEO_POLLS - 1:
                self.sleep(self.VIDEO_POLL_S)
        raise RetryLater("LinkedIn is still processing the video.", platform=self.platform.value, code="PROCESSING",
                         retry_at=self.clock() + timedelta(minutes=1))

    # ------------------------------------------------------------ reconciliation
    def find_published(self, creds: Credentials, request: PublishRequest, *, since: datetime) -> PublishResult | None:
        """The organization post matching `request`, or None.

        Members: LinkedIn lets only approved partners list a member's posts (r_member_social), so this always
        returns None, and because `reliable_listing` is False the runner must send the delivery to review
        rather than post again. Organizations: the Page's recent posts are searched; a match is proof, a miss
        is not (hence still `reliable_listing = False`).
        """
        author = self._author(creds)
        if not author.startswith("urn:li:organization:"):
            return None
        data = self._rest("GET", f"/rest/posts?q=author&author={_enc(author)}&count=20&sortBy=LAST_MODIFIED",
                          creds.access_token).json()
        wanted = normalize_text(request.content.text)
        floor = since.timestamp() * 1000
        for post in data.get("elements", []):
            text = normalize_text(unescape_little_text(post.get("commentary", "")))
            if text == wanted and (post.get("publishedAt") or post.get("createdAt") or 0) >= floor:
                return PublishResult(external_id=post["id"], url=f"https://www.linkedin.com/feed/update/{post['id']}/")
        return None

    # ------------------------------------------------------------ the first comment
    # Comments API (facts §3.3: socialActions/{urn}/comments), on the versioned /rest path like the posts.
    # Reading the comments back needs a read scope ordinary member apps do not get, and a miss is no proof:
    # a first comment whose answer was lost is never sent again (people are told to look).
    reliable_comment_listing: ClassVar[bool] = False
    COMMENT_IN_DOUBT: ClassVar[str] = (
        "LinkedIn did not answer whether the first comment was posted, and Outpost cannot tell whether it went out "
        "because LinkedIn does not let apps read the comments back: look at the post and add it by hand if it is "
        "missing.")

    def _comment_unknown(self, request: PublishRequest, why: str) -> dict[str, str]:
        """A lost answer LinkedIn never lets anyone check: said as a doubt ("may not have been posted"), never
        as a refusal, and without the listing's 403 (that is LinkedIn's rule for every app, not the account's
        permission). Checkpointed as refused ("comment:failed": never sent again) and as a doubt
        ("comment:unknown", read by the publisher's wording)."""
        request.save("comment:failed", self.COMMENT_IN_DOUBT)
        request.save("comment:unknown", "1")
        return {"first_comment_error": self.COMMENT_IN_DOUBT, "first_comment_unknown": "1"}

    def post_comment(self, creds: Credentials, post: PublishResult, text: str) -> str:
        author = self._author(creds)
        response = self._rest("POST", f"/rest/socialActions/{_enc(post.external_id)}/comments", creds.access_token,
                              json={"actor": author, "object": post.external_id, "message": {"text": text}})
        data = json_object(response)
        return response.headers.get("x-restli-id") or str(data.get("$URN") or data.get("id") or "")

    def find_comment(self, creds: Credentials, post: PublishResult, text: str, *, since: datetime) -> str | None:
        author = self._author(creds)
        data = self._rest("GET", f"/rest/socialActions/{_enc(post.external_id)}/comments?count=50",
                          creds.access_token).json()
        want, floor = normalize_text(text), since.timestamp() * 1000
        for item in data.get("elements", []):
            made = (item.get("created") or {}).get("time") or 0
            if (item.get("actor") == author and normalize_text((item.get("message") or {}).get("text") or "") == want
                    and made >= floor):
                return str(item.get("$URN") or item.get("id"))
        return None

    # ------------------------------------------------------------ metrics
    def post_metrics(self, creds: Credentials, external_ids: Sequence[str]) -> dict[str, PostMetrics]:
        author = self._author(creds)
        if author.startswith("urn:li:organization:"):
            return self._org_metrics(creds, author, external_ids)
        out = {}
        for urn in external_ids:
            kind = "ugc" if urn.startswith("urn:li:ugcPost:") else "share"
            raw = {}
            try:
                for query in _MEMBER.names:
                    data = self._rest("GET", f"/rest/memberCreatorPostAnalytics?q=entity&entity=({kind}:{_enc(urn)})"
                                             f"&queryType={query}&aggregation=TOTAL", creds.access_token).json()
                    elements = data.get("elements") or [{}]
                    if elements[0].get("count") is not None:       # no element: LinkedIn said nothing, not zero
                        raw[query] = elements[0]["count"]
            except Rejected as exc:
                if exc.http_status == 404:
                    continue          # deleted since: nothing to read, the member's other posts go on
                raise
            out[urn] = PostMetrics(urn, _MEMBER.normalise(raw), raw)
        return out

    def _org_metrics(self, creds: Credentials, org: str, urns: Sequence[str]) -> dict[str, PostMetrics]:
        out = {}
        for start in range(0, len(urns), _ORG.batch):
            batch = urns[start:start + _ORG.batch]
            shares = [_enc(u) for u in batch if not u.startswith("urn:li:ugcPost:")]
            ugcs = [_enc(u) for u in batch if u.startswith("urn:li:ugcPost:")]
            path = f"/rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity={_enc(org)}"
            path += f"&shares=List({','.join(shares)})" if shares else ""
            path += f"&ugcPosts=List({','.join(ugcs)})" if ugcs else ""
            data = self._rest("GET", path, creds.access_token).json()
            found = {e.get("share") or e.get("ugcPost"): e.get("totalShareStatistics", {})
                     for e in data.get("elements", [])}
            for urn in batch:   # posts with no activity are left out of the answer: that means zero
                stats = found.get(urn) or {name: 0 for name in _ORG.names}
                out[urn] = PostMetrics(urn, _ORG.normalise(stats), dict(stats))
        return out

    def account_metrics(self, creds: Credentials) -> AccountMetrics:
        author = self._author(creds)
        if author.startswith("urn:li:organization:"):
            data = self._rest("GET", f"/rest/networkSizes/{_enc(author)}?edgeType=COMPANY_FOLLOWED_BY_MEMBER",
                              creds.access_token).json()
            return AccountMetrics(followers=_ORG.follower_count(data), raw=data)
        data = self._rest("GET", "/rest/memberFollowersCount?q=me", creds.access_token).json()
        elements = data.get("elements") or [{}]
        return AccountMetrics(followers=_MEMBER.follower_count(elements[0]), raw=data)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
