"""Instagram through the Instagram API with Instagram Login (host graph.instagram.com).

Reference: https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login
(content publishing: .../content-publishing; insights: .../reference/instagram-media/insights).

Publishing is Meta's container model: create a container per item, wait until it is
FINISHED, then `media_publish` it. A container is invisible until published, so creating
one twice is harmless but publishing twice is not: the container id is saved before
`media_publish`, and a retry first asks whether that container is already PUBLISHED.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Sequence

import httpx

from core.errors import OutcomeUnknown, PlatformError, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms.base import (AccountMetrics, Credentials, MediaItem, OAuthSpec, PlatformAdapter, PostMetrics,
                                 Profile, PublishRequest, PublishResult, TokenSet, json_object, normalize_text)
from core.platforms.catalog import Platform
from core.platforms.meta import (DEFAULT_VERSION, classify_graph, insight_values, media_items, number,
                                 parse_graph_time)

GRAPH = "https://graph.instagram.com"
# Instagram's metric name -> Outpost's. `impressions`, `plays` and `video_views` are deprecated (Apr 21 2025).
METRICS = {"views": "views", "reach": "reach", "saved": "saves", "likes": "likes", "comments": "comments",
           "shares": "shares", "total_interactions": None}
STORY_METRICS = ("views", "reach", "shares", "total_interactions")   # stories refuse saved/likes/comments


class InstagramAdapter(PlatformAdapter):
    platform = Platform.INSTAGRAM
    oauth = OAuthSpec(authorize_url="https://www.instagram.com/oauth/authorize",
                      token_url="https://api.instagram.com/oauth/access_token",
                      scopes=("instagram_business_basic", "instagram_business_content_publish",
                              "instagram_business_manage_insights"),
                      scope_separator=",")
    HOSTS: tuple[str, ...] = ("graph.instagram.com", "api.instagram.com", "www.instagram.com")
    REFRESH_MIN_AGE = timedelta(hours=24)     # ig_refresh_token refuses younger tokens
    # A 60-day token that can only be renewed once a day old: renew it well before the end.
    refresh_ahead = timedelta(days=7)
    POLL_ATTEMPTS = 10
    POLL_INTERVAL_S = 3.0
    NOT_READY_RETRY = timedelta(minutes=1)

    def url(self, path: str) -> str:
        return f"{GRAPH}/{self.config.api_version or DEFAULT_VERSION}/{path}"

    def get(self, path: str, token: str, **params: Any) -> dict:
        return self.request("GET", self.url(path), token=token, params=params).json()

    # ------------------------------------------------------------ errors
    def classify(self, response: httpx.Response) -> PlatformError:
        return classify_graph(response, label="Instagram", fallback=super().classify, now=self.clock())

    def error_message(self, response: httpx.Response) -> str:
        # api.instagram.com's OAuth errors are {"error_type", "code", "error_message"}.
        data = json_object(response)
        if isinstance(data.get("error_message"), str):
            return data["error_message"]
        return super().error_message(response)

    # ------------------------------------------------------------ OAuth
    def exchange_code(self, code: str, *, code_verifier: str | None = None) -> TokenSet:
        """Code -> 1 h token (api.instagram.com) -> 60 d token (ig_exchange_token), in one step."""
        short = self._token_call(self.oauth.token_url, {
            "grant_type": "authorization_code", "code": code.removesuffix("#_"),   # Instagram appends "#_"
            "redirect_uri": self.config.redirect_uri, "client_id": self.config.client_id})
        if isinstance(short.get("data"), list) and short["data"]:   # Business Login wraps it in data[]
            short = short["data"][0]
        long = self._graph_token("access_token", grant_type="ig_exchange_token",
                                 client_secret=self.config.client_secret, access_token=short["access_token"])
        return self.parse_token({**long, "permissions": short.get("permissions"), "user_id": short.get("user_id")})

    def parse_token(self, data) -> TokenSet:
        data = dict(data)
        permissions = data.pop("permissions", None)
        if permissions and not data.get("scope"):
            data["scope"] = permissions
        if data.get("user_id") is not None:
            data["user_id"] = str(data["user_id"])
        else:
            data.pop("user_id", None)
        return super().parse_token(data)

    def can_refresh(self, creds: Credentials) -> bool:
        """Instagram refreshes a long-lived token only once it is 24 h old and not yet expired."""
        now = self.clock()
        if creds.expires_at is not None and creds.expires_at <= now:
            return False
        return creds.issued_at is None or now - creds.issued_at >= self.REFRESH_MIN_AGE

    def refresh(self, creds: Credentials) -> TokenSet:
        """A new 60-day token from the current one (there is no separate refresh token)."""
        if not self.can_refresh(creds):
            expired = creds.expires_at is not None and creds.expires_at <= self.clock()
            why = ("it has expired, and Instagram cannot renew an expired token" if expired else
                   "Instagram renews a token only once it is 24 hours old, and this one is younger "
                   "yet was refused")
            raise ReconnectNeeded(f"The Instagram token cannot be renewed: {why}. Connect the account again.",
                                  platform=self.platform.value, code="expired" if expired else "token_too_young")
        return self.parse_token(self._graph_token("refresh_access_token", grant_type="ig_refresh_token",
                                                  access_token=creds.access_token))

    def _graph_token(self, path: str, **params: str) -> dict:
        # These two endpoints take the token in the query and live outside the versioned path.
        try:
            return self.request("GET", f"{GRAPH}/{path}", params=params).json()
        except (TokenExpired, Rejected) as exc:
            raise ReconnectNeeded(f"Instagram refused the authorization: {exc}", platform=self.platform.value,
                                  code=exc.code) from None

    def fetch_profile(self, token: TokenSet) -> Profile:
        data = self.get("me", token.access_token, fields="user_id,username,name,account_type,profile_picture_url")
        # user_id is the professional account id the publishing paths take; id is app-scoped.
        external_id = str(data.get("user_id") or token.extra.get("user_id") or data["id"])
        return Profile(external_id=external_id, handle=data.get("username", ""), display_name=data.get("name", ""),
                       meta={k: data[k] for k in ("account_type", "profile_picture_url") if k in data})

    # ------------------------------------------------------------ publishing
    def publish(self, creds: Credentials, request: PublishRequest) -> PublishResult:
        items = media_items(request)
        kind = self._kind(request, items)
        user, token = creds.external_id or "me", creds.access_token
        if request.progress.get("ig_media"):          # published already; only the answer was lost after
            return self._result(request.progress["ig_media"], token, request.progress.get("ig_container"))
        container = request.progress.get("ig_container")
        status = self._status(container, token) if container else None
        if status == "PUBLISHED":
            # media_publish went through but its answer was lost: the runner reconciles (find_published).
            raise OutcomeUnknown("Instagram already published this post; its id is being looked up.",
                                 platform=self.platform.value, code="PUBLISHED")
        if status in (None, "EXPIRED", "ERROR"):
            container = self._create(user, token, kind, items, request)
            request.save("ig_container", container)
        self._wait(container, token)
        self._check_quota(user, token)
        media_id = str(self.request("POST", self.url(f"{user}/media_publish"), token=token,
                                    json={"creation_id": container}).json()["id"])
        request.save("ig_media", media_id)
        return self._result(media_id, token, container)

    def _kind(self, request: PublishRequest, items: Sequence[MediaItem]) -> str:
        wanted = str(request.options.get("ig_media_type") or "").upper()
        if not items:
            raise Rejected("Instagram has no text-only posts: add an image or a video.", code="text_only")
        if wanted not in ("", "FEED", "REELS", "STORIES"):
            raise Rejected(f"'{wanted}' is not an Instagram post type; use FEED, REELS or STORIES.", code="media_type")
        if len(items) > 10:
            raise Rejected(f"An Instagram carousel takes 2 to 10 items, not {len(items)}.", code="carousel_size")
        if len(items) > 1 and wanted in ("REELS", "STORIES"):
            raise Rejected(f"An Instagram {wanted.lower()[:-1]} takes one item; a post with several is a carousel.",
                           code="media_count")
        if len(items) > 1:
            return "CAROUSEL"
        if wanted == "STORIES":
            return "STORIES"
        if items[0].kind == "video":
            return "REELS"      # single feed videos have been published as reels since July 2023
        if wanted == "REELS":
            raise Rejected("An Instagram reel needs a video, not an image.", code="reel_needs_video")
        return "IMAGE"

    def _item(self, item: MediaItem) -> dict[str, Any]:
        if item.kind == "video":
            return {"video_url": item.url}
        return {"image_url": item.url, **({"alt_text": item.alt_text} if item.alt_text else {})}

    def _container(self, user: str, token: str, body: dict[str, Any]) -> str:
        return str(self.request("POST", self.url(f"{user}/media"), token=token, json=body).json()["id"])

    def _create(self, user: str, token: str, kind: str, items: Sequence[MediaItem], request: PublishRequest) -> str:
        caption = {"caption": request.content.text} if request.content.text else {}
        if kind == "CAROUSEL":
            children = self._children(user, token, items, request)
            return self._container(user, token, {"media_type": "CAROUSEL", "children": ",".join(children), **caption})
        body = self._item(items[0])
        if kind == "STORIES":
            return self._container(user, token, {**body, "media_type": "STORIES"})   # stories ignore captions
        return self._container(user, token, {**body, **caption, **({"media_type": "REELS"} if kind == "REELS" else {})})

    def _children(self, user: str, token: str, items: Sequence[MediaItem], request: PublishRequest) -> list[str]:
        saved = [c for c in request.progress.get("ig_children", "").split(",") if c]
        if len(saved) != len(items) or any(self._status(c, token) in (None, "EXPIRED", "ERROR") for c in saved):
            saved = [self._container(user, token, {**self._item(item), "is_carousel_item": True,
                                                   **({"media_type": "VIDEO"} if item.kind == "video" else {})})
                     for item in items]
            request.save("ig_children", ",".join(saved))
        for child in saved:           # a carousel parent wants finished children
            self._wait(child, token)
        return saved

    def _status(self, container: str, token: str) -> str | None:
        try:
            return self.get(container, token, fields="status_code,status").get("status_code")
        except Rejected:
            return None               # unknown or deleted container: make a new one

    def _wait(self, container: str, token: str) -> None:
        """Poll the container until FINISHED, a bounded number of times (RetryLater when the bound is hit)."""
        for attempt in range(self.POLL_ATTEMPTS):
            data = self.get(container, token, fields="status_code,status")
            code = data.get("status_code")
            if code in ("FINISHED", "PUBLISHED"):
                return
            if code == "ERROR":
                detail = str(data.get("status") or "")
                sub = next(iter(re.findall(r"\b22070\d\d\b", detail)), None)
                if sub in ("2207003", "2207052"):   # Meta could not fetch the media in time: worth another go
                    raise RetryLater(f"Instagram could not fetch the media yet ({detail}).", code=sub)
                raise Rejected(f"Instagram could not use the media: {detail or 'processing failed'}.",
                               code=sub or "ERROR")
            if code == "EXPIRED":
                raise RetryLater("The Instagram container expired before it was published.", code="EXPIRED")
            if attempt < self.POLL_ATTEMPTS - 1:
                self.sleep(self.POLL_INTERVAL_S)
        raise RetryLater("Instagram is still processing the media.", code="IN_PROGRESS",
                         retry_at=self.clock() + self.NOT_READY_RETRY)

    def _check_quota(self, user: str, token: str) -> None:
        """Instagram caps API posts per rolling 24 h (100 in one doc, 50 in another): read it, do not guess."""
        limit = self.get(f"{user}/content_publishing_limit", token, fields="quota_usage,config")
        entry = (limit.get("data") or [{}])[0]
        config = entry.get("config") or {}
        used, total = entry.get("quota_usage"), config.get("quota_total")
        if used is None or not total or int(used) < int(total):
            return
        window = timedelta(seconds=int(config.get("quota_duration") or 86400))
        now = self.clock()
        # A slot frees when the oldest post inside the window leaves it (a lower bound: app posts count too).
        posts = self.get(f"{user}/media", token, fields="timestamp", limit=int(total)).get("data") or []
        times = [t for p in posts if (t := parse_graph_time(p.get("timestamp"))) and t > now - window]
        raise RetryLater(f"Instagram allows {total} API posts per {window.total_seconds() / 3600:g} hours and this "
                         f"account has used them all.", code="quota", rate_limited=True,
                         retry_at=min(times) + window if times else now + timedelta(hours=1))

    def _result(self, media_id: str, token: str, container: str | None) -> PublishResult:
        try:
            permalink = self.get(media_id, token, fields="permalink").get("permalink")
        except PlatformError:
            permalink = None          # the post exists; a missing link is not a reason to publish again
        return PublishResult(external_id=media_id, url=permalink,
                             extra={"container_id": container} if container else {})

    # ------------------------------------------------------------ reconciliation
    def find_published(self, creds: Credentials, request: PublishRequest, *, since: datetime) -> PublishResult | None:
        token, user = creds.access_token, creds.external_id or "me"
        if request.progress.get("ig_media"):
            return self._result(request.progress["ig_media"], token, request.progress.get("ig_container"))
        container = request.progress.get("ig_container")
        status = self._status(container, token) if container else None
        if status is not None and status != "PUBLISHED":
            return None               # the container exists and was never published
        story = str(request.options.get("ig_media_type") or "").upper() == "STORIES"
        if story and status != "PUBLISHED":
            return None               # stories carry no caption to match: only a PUBLISHED container proves one
        fields = "id,timestamp,permalink" + ("" if story else ",caption")
        want = normalize_text(request.content.text)
        listing = self.get(f"{user}/{'stories' if story else 'media'}", token, fields=fields, limit=25)
        for item in listing.get("data") or []:
            when = parse_graph_time(item.get("timestamp"))
            if when is not None and when >= since and (story or normalize_text(item.get("caption") or "") == want):
                return PublishResult(external_id=str(item["id"]), url=item.get("permalink"),
                                     extra={"container_id": container} if container else {})
        return None

    # ------------------------------------------------------------ metrics
    def post_metrics(self, creds: Credentials, external_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """One insights call per media (the media insights edge takes one id); empty data = no data yet."""
        out: dict[str, PostMetrics] = {}
        for media_id in external_ids:
            values = self._insights(media_id, creds.access_token)
            if values:
                out[media_id] = PostMetrics(media_id, {METRICS[k]: number(v) for k, v in values.items()
                                                       if METRICS.get(k)}, raw=values)
        return out

    def _insights(self, media_id: str, token: str) -> dict[str, Any]:
        for metrics in (tuple(METRICS), STORY_METRICS):
            try:
                return insight_values(self.get(f"{media_id}/insights", token, metric=",".join(metrics)))
            except (Rejected, ReconnectNeeded) as exc:
                if exc.code == "10" and "viewers" in str(exc):
                    return {}         # "(#10) Not enough viewers for the media to show insights"
                if exc.code != "100":
                    raise             # 100: a metric this media type lacks (stories): try the smaller set
        return {}

    def account_metrics(self, creds: Credentials) -> AccountMetrics:
        data = self.get(creds.external_id or "me", creds.access_token,
                        fields="followers_count,follows_count,media_count")
        followers = data.get("followers_count")
        return AccountMetrics(followers=int(followers) if followers is not None else None, raw=data)

