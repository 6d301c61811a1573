"""Instagram through the Instagram API with Instagram Login (host graph.instagram.com).

Reference: https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login
(content publishing: .../content-publishing; insights: .../reference/instagram-media/insights).

Publishing is Meta's container model: create a container per item, wait until it is
FINISHED, then `media_publish` it. A container is invisible until published, so creating
one twice is harmless but publishing twice is not: the container id is saved before
`media_publish`, and a retry first asks whether that container is already PUBLISHED.
That flow is `ContainerPublishing` (core/platforms/meta.py), shared with Threads; this file
holds what is Instagram's: its names (edges, ``status_code``, ``ig_`` progress keys), post
types (feed image, reel, story, carousel), JSON request bodies, and what a container ERROR means.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Sequence

import httpx

from core.domain.errors import PlatformError, ReconnectNeeded, Rejected, RetryLater
from core.platforms import metric_names
from core.platforms.base import (AccountMetrics, Credentials, MediaItem, OAuthSpec, PlatformAdapter, PostMetrics,
                                 Profile, PublishRequest, PublishResult, TokenSet, json_object, normalize_text)
from core.domain.catalog import Platform
from core.platforms.meta import (LongLivedToken, DEFAULT_VERSION, ContainerPublishing, classify_graph, insight_values,
                                 find_own_comment, parse_graph_time)

GRAPH = "https://graph.instagram.com"
# What is asked for: the names metric_names maps (`impressions`, `plays` and `video_views` are deprecated since
# Apr 21 2025), plus total_interactions, kept in raw only.
METRICS = metric_names.table("instagram").names + ("total_interactions",)
STORY_METRICS = ("views", "reach", "shares", "total_interactions")   # stories refuse saved/likes/comments


class InstagramAdapter(LongLivedToken, ContainerPublishing, PlatformAdapter):
    platform = Platform.INSTAGRAM
    oauth = OAuthSpec(authorize_url="https://www.instagram.com/oauth/authorize",
                      token_url="https://api.instagram.com/oauth/access_token",
                      scopes=("instagram_business_basic", "instagram_business_content_publish",
                              "instagram_business_manage_insights", "instagram_business_manage_comments"),
                      scope_separator=",")
    HOSTS: tuple[str, ...] = ("graph.instagram.com", "api.instagram.com", "www.instagram.com")
    GRAPH_HOST = GRAPH                         # token renewal: LongLivedToken (ig_refresh_token, 24 h minimum age)
    REFRESH_GRANT = "ig_refresh_token"
    # Meta's container model (ContainerPublishing), in Instagram's names.
    LABEL = "Instagram"
    PROGRESS_PREFIX = "ig_"
    CONTAINER_EDGE = "media"
    PUBLISH_EDGE = "media_publish"
    STATUS_FIELD, STATUS_FIELDS = "status_code", "status_code,status"
    # Instagram caps API posts per rolling 24 h (100 in one doc, 50 in another): it is read, not guessed.
    QUOTA_EDGE = "content_publishing_limit"
    QUOTA_HOLDER = "account"

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

    def fetch_profile(self, token: TokenSet) -> Profile:
        data = self.get("me", token.access_token, fields="user_id,username,name,account_type,profile_picture_url")
        # user_id is the professional account id the publishing paths take; id is app-scoped.
        external_id = str(data.get("user_id") or token.extra.get("user_id") or data["id"])
        return Profile(external_id=external_id, handle=data.get("username", ""), display_name=data.get("name", ""),
                       meta={k: data[k] for k in ("account_type", "profile_picture_url") if k in data})

    # ------------------------------------------------------------ publishing
    # publish() and its steps are ContainerPublishing's (core/platforms/meta.py); what is Instagram's own:
    # the post types (_kind, _create), JSON bodies (post), and the words for a container ERROR.

    def post(self, path: str, token: str, body: dict[str, Any], *, idempotent: bool = False) -> dict:
        # A JSON body (Threads sends forms): the container and media_publish calls.
        return self.request("POST", self.url(path), token=token, json=body, idempotent=idempotent).json()

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

    def _create(self, user: str, token: str, kind: str, items: Sequence[MediaItem], request: PublishRequest) -> str:
        caption = {"caption": request.content.text} if request.content.text else {}
        if kind == "CAROUSEL":
            children = self._children(user, token, items, request)
            return self._container(user, token, {"media_type": "CAROUSEL", "children": ",".join(children), **caption})
        body = self._item(items[0])
        if kind == "STORIES":
            return self._container(user, token, {**body, "media_type": "STORIES"})   # stories ignore captions
        return self._container(user, token, {**body, **caption, **({"media_type": "REELS"} if kind == "REELS" else {})})

    def _child(self, item: MediaItem) -> dict[str, Any]:
        video = {"media_type": "VIDEO"} if item.kind == "video" else {}
        return {**self._item(item), "is_carousel_item": True, **video}

    def _container_error(self, data: dict[str, Any]) -> PlatformError:
        """A container in ERROR: its ``status`` words carry Meta's subcode (22070xx)."""
        detail = str(data.get("status") or "")
        sub = next(iter(re.findall(r"\b22070\d\d\b", detail)), None)
        if sub in ("2207003", "2207052"):   # Meta could not fetch the media in time: worth another go
            return RetryLater(f"Instagram could not fetch the media yet ({detail}).", code=sub)
        return Rejected(f"Instagram could not use the media: {detail or 'processing failed'}.", code=sub or "ERROR")

    def _quota_listing(self, total: int, start: datetime) -> dict[str, Any]:
        return {"limit": total}       # the latest `total` posts cover the window

    # ------------------------------------------------------------ reconciliation
    def find_published(self, creds: Credentials, request: PublishRequest, *, since: datetime) -> PublishResult | None:
        token, user = creds.access_token, creds.external_id or "me"
        done, container, status = self._saved(request, token)
        if done is not None:
            return done               # the media id was saved: published
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
    # ------------------------------------------------------------ the first comment
    def post_comment(self, creds: Credentials, post: PublishResult, text: str) -> str:
        """POST /{ig-media-id}/comments {message} (instagram_business_manage_comments) -> {"id"}."""
        return str(self.post(f"{post.external_id}/comments", creds.access_token, {"message": text})["id"])

    def find_comment(self, creds: Credentials, post: PublishResult, text: str, *, since: datetime) -> str | None:
        """This account's comment with this text under the media, made at or after `since` (newest pages first)."""
        return find_own_comment(self.get, f"{post.external_id}/comments", creds.access_token, text, since=since,
                                owner=creds.external_id, text_field="text", time_field="timestamp",
                                params={"fields": "id,text,timestamp,from", "limit": 50})

    def post_metrics(self, creds: Credentials, external_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """One insights call per media (the media insights edge takes one id); empty data = no data yet."""
        out: dict[str, PostMetrics] = {}
        for media_id in external_ids:
            values = self._insights(media_id, creds.access_token)
            if values:
                out[media_id] = PostMetrics(media_id, metric_names.table("instagram").normalise(values), raw=values)
        return out

    def _insights(self, media_id: str, token: str) -> dict[str, Any]:
        for metrics in (METRICS, STORY_METRICS):
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
        return AccountMetrics(followers=metric_names.table("instagram").follower_count(data), raw=data)

