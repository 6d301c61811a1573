"""TikTok: Content Posting API v2, direct post of one video or up to 35 photos.

API reference: https://developers.tiktok.com/doc/content-posting-api-reference-direct-post (see also
-photo-post, -get-video-status, content-posting-api-media-transfer-guide, tiktok-api-v2-error-handling).
Every answer is ``{"data": ..., "error": {"code": "ok"}}`` and errors may come inside a 200, so
`is_error` reads ``error.code``. Init returns a ``publish_id``, saved with ``request.save``, then polled.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, Mapping, Sequence

import httpx

from core.domain.errors import OutcomeUnknown, PlatformError, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms import metric_names
from core.platforms.base import (AccountMetrics, Credentials, MediaItem, OAuthSpec, PlatformAdapter, PostMetrics,
                                 Profile, PublishRequest, PublishResult, TokenSet, json_object, normalize_text)
from core.domain.catalog import Platform

API = "https://open.tiktokapis.com/v2"
STATUS = "/post/publish/status/fetch/"
JSON = {"Content-Type": "application/json; charset=UTF-8"}
MIB = 1024 * 1024
# Most public first: a creator's own choice wins only if creator_info offers it.
# The limits that bind this account (its other posts would be refused too until the retry time).
_RATE_LIMITS = frozenset({"rate_limit_exceeded", "spam_risk_too_many_posts", "spam_risk_too_many_pending_share"})
PRIVACY_ORDER = ("PUBLIC_TO_EVERYONE", "FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY")
VIDEO_FIELDS = "id,title,video_description,view_count,like_count,comment_count,share_count,create_time,share_url"
USER_FIELDS = "open_id,union_id,avatar_url,display_name,follower_count,following_count,likes_count,video_count"

# error.code -> (class, plain words). Rate and spam limits get their retry time in `classify`.
_SCOPE = "The TikTok account did not grant a permission Outpost needs; connect it again."
_ERRORS: dict[str, tuple[type[PlatformError], str]] = {
    "access_token_invalid": (TokenExpired, "TikTok says the access token is expired or invalid."),
    "scope_not_authorized": (ReconnectNeeded, _SCOPE), "scope_permission_missed": (ReconnectNeeded, _SCOPE),
    "rate_limit_exceeded": (RetryLater, "TikTok is rate limiting this account; trying again in a minute."),
    "spam_risk_too_many_posts": (RetryLater, "This TikTok account hit its daily post limit; trying again tomorrow."),
    "spam_risk_too_many_pending_share": (RetryLater, "This TikTok account has too many posts waiting to be published "
                                                     "(at most 5 a day); trying again tomorrow."),
    "reached_active_user_cap": (RetryLater, "This TikTok app reached its daily user cap; trying again tomorrow."),
    "spam_risk_user_banned_from_posting": (Rejected, "TikTok has banned this account from posting."),
    "spam_risk_text": (Rejected, "TikTok flagged the caption as spam."),
    "privacy_level_option_mismatch": (Rejected, "The privacy level is not one this TikTok account allows."),
    "url_ownership_unverified": (Rejected, "TikTok only pulls media from a domain verified in the TikTok developer "
                                           "portal, and this media's address is not on one."),
    "unaudited_client_can_only_post_to_private_accounts": (
        Rejected, "This TikTok app has not passed TikTok's audit, so it may only post to private accounts "
                  "(set the account to private, or use privacy level SELF_ONLY)."),
    "invalid_params": (Rejected, "TikTok refused the post as invalid."),
    "invalid_file_upload": (Rejected, "TikTok refused the uploaded file."),
    "internal_error": (RetryLater, "TikTok had a temporary problem."),
}
_NEXT_DAY = {"spam_risk_too_many_posts", "spam_risk_too_many_pending_share", "reached_active_user_cap"}
_FAIL_REASONS = {
    "file_format_check_failed": "the file format is not one TikTok accepts (MP4, MOV or WebM; JPEG or WEBP photos)",
    "duration_check_failed": "the video is too short or too long for this account",
    "frame_rate_check_failed": "the video's frame rate is outside 23-60 fps",
    "picture_size_check_failed": "the picture size is outside what TikTok accepts",
    "video_pull_failed": "TikTok could not download the video from its address",
    "photo_pull_failed": "TikTok could not download a photo from its address",
}


class TikTokAdapter(PlatformAdapter):
    platform: ClassVar[Platform] = Platform.TIKTOK
    oauth: ClassVar[OAuthSpec] = OAuthSpec(
        authorize_url="https://www.tiktok.com/v2/auth/authorize/",
        token_url="https://open.tiktokapis.com/v2/oauth/token/",
        scopes=("user.info.basic", "user.info.stats", "video.publish", "video.upload", "video.list"),
        scope_separator=",", client_id_param="client_key", rotates_refresh_token=True)
    HOSTS: ClassVar[tuple[str, ...]] = ("open.tiktokapis.com", "open-upload.tiktokapis.com", "www.tiktok.com")
    # A post only shows in video/list after moderation (minutes, sometimes hours), so "not
    # listed" does not prove "not posted".
    reliable_listing: ClassVar[bool] = False
    STATUS_POLLS: ClassVar[int] = 12        # status/fetch allows 30 requests/min per token
    POLL_INTERVAL_S: ClassVar[float] = 5.0
    ID_POLLS: ClassVar[int] = 2             # extra polls for the public id after PUBLISH_COMPLETE
    CHUNK_SIZE: ClassVar[int] = 10_000_000  # TikTok's own example; config option "chunk_size" overrides

    # ------------------------------------------------------------ errors
    def is_error(self, response: httpx.Response) -> bool:
        error = json_object(response).get("error")
        if isinstance(error, dict):
            return error.get("code", "ok") != "ok"
        return isinstance(error, str) and bool(error)      # OAuth errors: {"error": "invalid_grant", ...}

    def classify(self, response: httpx.Response) -> PlatformError:
        body = json_object(response)
        error = body.get("error")
        if isinstance(error, str) and response.status_code < 500:     # the token endpoint's shape
            return ReconnectNeeded(f"TikTok refused the authorization ({body.get('error_description') or error}); "
                                   "connect the account again.", code=error)
        code = str(error.get("code")) if isinstance(error, dict) else "ok"
        if code in ("ok", "None"):
            return super().classify(response)
        said = error.get("message") or ""
        cls, plain = _ERRORS.get(code, (None, ""))
        if cls is None:         # a code we do not know: judge by HTTP status (a 200 carrying it is a refusal)
            found = super().classify(response) if response.status_code >= 400 else \
                Rejected(f"TikTok refused the request: {said or code}.")
            found.code = code
            return found
        message = f"{plain} (TikTok: {said})" if said else plain
        if cls is RetryLater:
            when = self.clock() + timedelta(hours=24) if code in _NEXT_DAY else \
                self.retry_at(response) or self.clock() + timedelta(seconds=60)
            return RetryLater(message, code=code, retry_at=when, rate_limited=code in _RATE_LIMITS)
        return cls(message, code=code)

    def error_message(self, response: httpx.Response) -> str:
        error = json_object(response).get("error")
        return (error.get("message") or "") if isinstance(error, dict) else super().error_message(response)

    # ------------------------------------------------------------ account
    def fetch_profile(self, token: TokenSet) -> Profile:
        user = self._user(token.access_token)
        # `username` needs the user.info.profile scope we do not ask for; creator_info has it.
        creator = self._call(token.access_token, "/post/publish/creator_info/query/", {})
        return Profile(external_id=str(token.extra.get("open_id") or user.get("open_id") or ""),
                       handle=creator.get("creator_username") or user.get("display_name") or "",
                       display_name=user.get("display_name") or creator.get("creator_nickname") or "",
                       meta={"avatar_url": user.get("avatar_url"), "follower_count": user.get("follower_count"),
                             "privacy_level_options": creator.get("privacy_level_options") or []})

    def account_metrics(self, creds: Credentials) -> AccountMetrics:
        user = self._user(creds.access_token)
        return AccountMetrics(followers=metric_names.table("tiktok").follower_count(user), raw=user)

    def _user(self, token: str) -> dict:
        return self._call(token, "/user/info/", method="GET", params={"fields": USER_FIELDS}).get("user") or {}

    # ------------------------------------------------------------ publishing
    def publish(self, creds: Credentials, request: PublishRequest) -> PublishResult:
        token = creds.access_token
        publish_id = request.progress.get("publish_id")
        username = request.progress.get("username") or creds.meta.get("username") or ""
        if not publish_id:                                   # a saved id means: poll, never post again
            videos = [m for m in request.media if m.kind == "video"]
            photos = [m for m in request.media if m.kind != "video"]
            if not request.media:
                raise Rejected("TikTok posts need a video or photos.", platform=self.platform.value, code="no_media")
            if videos and photos or len(videos) > 1:
                raise Rejected("A TikTok post is one video or up to 35 photos, not a mix.",
                               platform=self.platform.value, code="mixed_media")
            if len(photos) > 35:
                raise Rejected(f"A TikTok photo post holds at most 35 photos, not {len(photos)}.",
                               platform=self.platform.value, code="too_many_photos")
            creator = self._call(token, "/post/publish/creator_info/query/", {})   # required before a direct post
            username = creator.get("creator_username") or username
            request.save("username", username)
            if videos:
                publish_id = self._post_video(token, request, videos[0], creator)
            else:
                publish_id = self._post_photos(token, request, photos, creator)
            request.save("publish_id", publish_id)
        return self._await(token, publish_id, username, _kind(request))

    def _post_info(self, request: PublishRequest, creator: Mapping[str, Any], **more: Any) -> dict:
        opts = request.options
        return {**more, "privacy_level": self._privacy(creator, opts),
                # A setting the creator has turned off in the app must stay off.
                "disable_comment": bool(creator.get("comment_disabled") or opts.get("disable_comment", False)),
                "brand_content_toggle": bool(opts.get("brand_content_toggle", False)),
                "brand_organic_toggle": bool(opts.get("brand_organic_toggle", False))}

    def _privacy(self, creator: Mapping[str, Any], options: Mapping[str, Any]) -> str:
        offered = list(creator.get("privacy_level_options") or [])
        if not offered:
            raise Rejected("TikTok offered no privacy level for this account, so nothing can be posted.",
                           platform=self.platform.value, code="no_privacy_options")
        if options.get("privacy_level") in offered:
            return options["privacy_level"]
        return next((level for level in PRIVACY_ORDER if level in offered), offered[0])

    def _post_video(self, token: str, request: PublishRequest, media: MediaItem, creator: Mapping[str, Any]) -> str:
        info = self._post_info(
            request, creator, title=request.content.text,
            disable_duet=bool(creator.get("duet_disabled") or request.options.get("disable_duet", False)),
            disable_stitch=bool(creator.get("stitch_disabled") or request.options.get("disable_stitch", False)),
            is_aigc=bool(request.options.get("is_aigc", False)))
        if media.data is None:
            source: dict[str, Any] = {"source": "PULL_FROM_URL", "video_url": media.url}
        else:
            size, chunk, count = self.chunking(len(media.data))
            source = {"source": "FILE_UPLOAD", "video_size": size, "chunk_size": chunk, "total_chunk_count": count}
        data = self._call(token, "/post/publish/video/init/", {"post_info": info, "source_info": source})
        for index in range(source.get("total_chunk_count", 0)):
            first = index * chunk
            last = size - 1 if index == count - 1 else first + chunk - 1   # the last chunk takes the remainder
            # Earlier chunks can be re-sent safely (an unfinished upload is never posted);
            # a lost answer to the last one may mean the post is on its way.
            self.request("PUT", data["upload_url"], idempotent=index < count - 1, content=media.data[first:last + 1],
                         headers={"Content-Type": media.mime or "video/mp4",
                                  "Content-Range": f"bytes {first}-{last}/{size}"})
        return str(data["publish_id"])

    def chunking(self, size: int) -> tuple[int, int, int]:
        """(video_size, chunk_size, total_chunk_count) per the media transfer guide.

        Chunks are 5-64 MB; a video that fits one chunk goes whole; total_chunk_count =
        floor(size / chunk_size) and the last chunk takes the remainder (< 2 chunks, so <= 128 MB).
        """
        chunk = int(self.config.options.get("chunk_size", self.CHUNK_SIZE))
        chunk = min(max(chunk, 5 * MIB, -(-size // 1000)), 64_000_000)   # 5 MiB..64 MB, at most 1000 chunks
        if size <= chunk:
            return size, size, 1
        return size, chunk, size // chunk

    def _post_photos(self, token: str, request: PublishRequest, photos: Sequence[MediaItem],
                     creator: Mapping[str, Any]) -> str:
        content = request.content
        title = content.title or next(iter((content.caption or content.text).strip().splitlines()), "")
        info = self._post_info(request, creator, title=title.strip()[:90], description=content.text,
                               auto_add_music=bool(request.options.get("auto_add_music", True)))
        data = self._call(token, "/post/publish/content/init/", {
            "media_type": "PHOTO", "post_mode": "DIRECT_POST", "post_info": info,
            "source_info": {"source": "PULL_FROM_URL", "photo_cover_index": 0,
                            "photo_images": [p.url for p in photos]}})
        return str(data["publish_id"])

    def _await(self, token: str, publish_id: str, username: str, kind: str) -> PublishResult:
        """Poll status/fetch (bounded) until the post is live or has failed."""
        complete_polls = 0
        for attempt in range(self.STATUS_POLLS):
            if attempt:
                self.sleep(self.POLL_INTERVAL_S)
            status = self._call(token, STATUS, {"publish_id": publish_id})
            if status.get("status") == "FAILED":
                reason = status.get("fail_reason") or "unknown"
                raise Rejected(f"TikTok did not publish the post: {_FAIL_REASONS.get(reason, reason)}.",
                               platform=self.platform.value, code=reason)
            if status.get("status") in ("PUBLISH_COMPLETE", "SEND_TO_USER_INBOX"):
                complete_polls += 1
                result = self._result(status, publish_id, username, kind)
                # The public id arrives after moderation, which can take hours: do not wait for it.
                if not result.extra.get("pending_id") or complete_polls > self.ID_POLLS \
                        or status["status"] == "SEND_TO_USER_INBOX":
                    return result
        # TikTok has the post and will publish it or say why not: never "failed", never sent again. In doubt.
        raise OutcomeUnknown("TikTok accepted the post and is still processing it.", platform=self.platform.value,
                             code="processing")

    def _result(self, status: Mapping[str, Any], publish_id: str, username: str, kind: str) -> PublishResult:
        ids = status.get("publicaly_available_post_id") or []   # sic: TikTok's spelling
        if not ids:
            return PublishResult(publish_id, url=None, extra={"publish_id": publish_id, "pending_id": True,
                                                              "status": status.get("status")})
        post_id = str(ids[0])
        url = f"https://www.tiktok.com/@{username}/{kind}/{post_id}" if username else None
        return PublishResult(post_id, url=url, extra={"publish_id": publish_id})

    # ------------------------------------------------------------ reconciliation and metrics
    def find_published(self, creds: Credentials, request: PublishRequest, *, since: datetime) -> PublishResult | None:
        publish_id = request.progress.get("publish_id")
        if publish_id:       # accepted by TikTok: it is (or will be) posted unless it FAILED
            status = self._call(creds.access_token, STATUS, {"publish_id": publish_id})
            if status.get("status") == "FAILED":
                return None
            if status.get("status") not in ("PUBLISH_COMPLETE", "SEND_TO_USER_INBOX"):
                # Still downloading or processing: not published yet, and it may still fail. Ask again later.
                raise RetryLater("TikTok is still processing the post.", platform=self.platform.value,
                                 code="processing", retry_at=self.clock() + timedelta(seconds=60))
            username = request.progress.get("username") or creds.meta.get("username") or ""
            return self._result(status, publish_id, username, _kind(request))
        wanted = {normalize_text(request.content.text), normalize_text(request.content.title or "")} - {""}
        cutoff = int(since.timestamp())
        data = self._call(creds.access_token, "/video/list/", {"max_count": 20}, params={"fields": VIDEO_FIELDS})
        for video in data.get("videos") or []:
            texts = {normalize_text(video.get("title") or ""), normalize_text(video.get("video_description") or "")}
            if int(video.get("create_time") or 0) >= cutoff and wanted & texts:
                return PublishResult(str(video["id"]), url=video.get("share_url"), extra={"reconciled": True})
        return None

    def post_metrics(self, creds: Credentials, external_ids: Sequence[str]) -> dict[str, PostMetrics]:
        out: dict[str, PostMetrics] = {}
        ids = [str(i) for i in external_ids]
        names = metric_names.table("tiktok")
        for start in range(0, len(ids), names.batch):         # video/query takes up to 20 ids
            data = self._call(creds.access_token, "/video/query/",
                              {"filters": {"video_ids": ids[start:start + names.batch]}}, params={"fields": VIDEO_FIELDS})
            for video in data.get("videos") or []:
                out[str(video["id"])] = PostMetrics(str(video["id"]), values=names.normalise(video), raw=video)
        return out

    # ------------------------------------------------------------ plumbing
    def _call(self, token: str, path: str, body: dict | None = None, *, method: str = "POST",
              params: Mapping[str, str] | None = None) -> dict:
        """One API call; returns its `data`."""
        # Only the init endpoints create anything; the other POSTs are reads, so a lost answer
        # to them means "try again", not "reconcile".
        response = self.request(method, API + path, token=token, params=params, idempotent=not path.endswith("/init/"),
                                **({"json": body, "headers": JSON} if body is not None else {}))
        return json_object(response).get("data") or {}


def _kind(request: PublishRequest) -> str:
    return "video" if any(m.kind == "video" for m in request.media) else "photo"
