"""Facebook Pages through the Graph API (host graph.facebook.com).

Reference: https://developers.facebook.com/docs/pages-api/posts (publishing),
https://developers.facebook.com/docs/graph-api/reference/insights (insights),
https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived (tokens).

The connected account is a Page, but Facebook Login hands out a *user* token. The user
token (`TokenSet.access_token`) is the one exchanged and refreshed; the Page's own token,
read from `/me/accounts`, is the one that posts. `fetch_profile` returns it in
`Profile.meta["page_access_token"]`; connecting stores it in the account's encrypted secrets
(`Credentials.secrets`). Without it, the adapter looks the Page token up again with the user token.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar, Sequence
from urllib.parse import urlencode

import httpx

from core.domain.errors import OutcomeUnknown, PlatformError, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms import metric_names
from core.platforms.base import (AccountMetrics, Credentials, MediaItem, OAuthSpec, PlatformAdapter, PostMetrics,
                                 Profile, PublishRequest, PublishResult, TokenSet, normalize_text)
from core.domain.catalog import Platform
from core.platforms.meta import (DEFAULT_VERSION, SecretStr, classify_graph, graph_error, insight_values, media_items,
                                 find_own_comment, parse_graph_time)

GRAPH = "https://graph.facebook.com"
# Non-deprecated names only (core.platforms.metric_names): impressions-type metrics became *media_view* ones on
# Nov 15 2025. A video node has no `insights` edge; reels answer only the fb_reels_* metric.
POST_METRICS = metric_names.table("facebook")
VIDEO_METRICS = metric_names.table("facebook", "video")


class FacebookAdapter(PlatformAdapter):
    platform = Platform.FACEBOOK
    oauth = OAuthSpec(authorize_url=f"https://www.facebook.com/{DEFAULT_VERSION}/dialog/oauth",
                      token_url=f"{GRAPH}/{DEFAULT_VERSION}/oauth/access_token",
                      scopes=("pages_show_list", "pages_manage_posts", "pages_read_engagement", "read_insights",
                              "publish_video", "pages_manage_engagement"),
                      scope_separator=",")
    HOSTS: tuple[str, ...] = ("graph.facebook.com", "www.facebook.com")
    duplicate_codes: ClassVar[frozenset[str]] = frozenset({"506"})       # (#506) Duplicate status message

    @property
    def version(self) -> str:
        return self.config.api_version or DEFAULT_VERSION

    def url(self, path: str) -> str:
        return f"{GRAPH}/{self.version}/{path}"

    def get(self, path: str, token: str, **params: Any) -> dict:
        return self.request("GET", self.url(path), token=token, params=params).json()

    def post(self, path: str, token: str, body: dict[str, Any], *, idempotent: bool = False, **params: Any) -> dict:
        return self.request("POST", self.url(path), token=token, json=body, params=params or None,
                            idempotent=idempotent).json()

    def classify(self, response: httpx.Response) -> PlatformError:
        error = classify_graph(response, label="Facebook", fallback=super().classify, now=self.clock())
        if (isinstance(error, RetryLater) and not error.rate_limited and response.status_code < 500
                and response.request.method == "POST" and _maybe_applied(response)):
            # Meta answers "an unknown error occurred, please retry" (codes 1 and 2, is_transient) with a 400 too,
            # for posts it made anyway; a Page post has no container to ask afterwards, so it is in doubt. (A 5xx
            # is the base class's rule.)
            return OutcomeUnknown(f"{str(error).rstrip('.')}; the post may still have gone out.", code=error.code)
        return error

    # ------------------------------------------------------------ OAuth
    def authorization_url(self, *, state: str, code_challenge: str | None = None) -> str:
        # The dialog path carries the Graph version, which is configuration, not a constant.
        params = {"client_id": self.config.client_id, "redirect_uri": self.config.redirect_uri, "state": state,
                  "response_type": "code", "scope": self.oauth.scope_separator.join(self.oauth.scopes)}
        return self.resolve(f"https://www.facebook.com/{self.version}/dialog/oauth") + "?" + urlencode(params)

    def exchange_code(self, code: str, *, code_verifier: str | None = None) -> TokenSet:
        """Code -> short user token -> 60-day user token (fb_exchange_token), in one step."""
        short = self._oauth_get(client_id=self.config.client_id, client_secret=self.config.client_secret,
                                redirect_uri=self.config.redirect_uri, code=code)
        return self._long_lived(short["access_token"])

    def refresh(self, creds: Credentials) -> TokenSet:
        """Facebook has no refresh token: a still-valid long-lived user token is exchanged again."""
        if creds.expires_at is not None and creds.expires_at <= self.clock():
            raise ReconnectNeeded("The Facebook token has expired and Facebook cannot renew an expired token. "
                                  "Connect the Page again.", platform=self.platform.value, code="expired")
        return self._long_lived(creds.access_token)

    def _long_lived(self, token: str) -> TokenSet:
        data = self._oauth_get(grant_type="fb_exchange_token", client_id=self.config.client_id,
                               client_secret=self.config.client_secret, fb_exchange_token=token)
        token_set = self.parse_token(data)
        return replace(token_set, scopes=self._granted(token_set.access_token))

    def _oauth_get(self, **params: str) -> dict:
        try:
            return self.request("GET", self.url("oauth/access_token"), params=params).json()
        except (TokenExpired, Rejected) as exc:
            raise ReconnectNeeded(f"Facebook refused the authorization: {exc}", platform=self.platform.value,
                                  code=exc.code) from None

    def _granted(self, token: str) -> tuple[str, ...]:
        """The permissions the person granted (Facebook's token response does not say)."""
        try:
            data = self.get("me/permissions", token)
        except PlatformError:
            return ()                 # unknown: missing_scopes() then reports nothing rather than guessing
        return tuple(p["permission"] for p in data.get("data") or () if p.get("status") == "granted")

    def fetch_profile(self, token: TokenSet) -> Profile:
        """The first Page the person manages; every Page (ids and names only) in meta["pages"]."""
        pages = self._pages(token.access_token)
        if not pages:
            raise ReconnectNeeded("This Facebook login manages no Page that Outpost may use. Connect again and "
                                  "choose at least one Page.", platform=self.platform.value, code="no_page")
        page = pages[0]
        return Profile(external_id=str(page["id"]), handle=page.get("username") or page.get("name", ""),
                       display_name=page.get("name", ""),
                       meta={"pages": [{"id": str(p["id"]), "name": p.get("name", "")} for p in pages],
                             "page_access_token": SecretStr(page.get("access_token") or ""),  # store encrypted
                             **({"category": page["category"]} if page.get("category") else {})})

    def _pages(self, user_token: str) -> list[dict]:
        return self.get("me/accounts", user_token, fields="id,name,username,category,access_token",
                        limit=100).get("data") or []

    def page_token(self, creds: Credentials) -> str:
        """The Page token from the account's secrets, else looked up again with the user token."""
        if creds.secrets.get("page_access_token"):
            return creds.secrets["page_access_token"]
        for page in self._pages(creds.access_token):
            if str(page.get("id")) == str(creds.external_id) and page.get("access_token"):
                return page["access_token"]
        raise ReconnectNeeded("This Facebook login no longer manages the Page (or lost its Page role). "
                              "Connect the Page again.", platform=self.platform.value, code="no_page_role")

    # ------------------------------------------------------------ publishing
    def publish(self, creds: Credentials, request: PublishRequest) -> PublishResult:
        page, token = creds.external_id, self.page_token(creds)
        items, text = media_items(request), request.content.text
        videos = [m for m in items if m.kind == "video"]
        if videos and len(items) > 1:
            raise Rejected("A Facebook Page post takes photos or one video, not several videos or both.",
                           code="media_mix")
        if videos:
            data = self.post(f"{page}/videos", token, {"file_url": videos[0].url, "description": text,
                                                       "published": True})
            return self._result(str(data["id"]), token)
        if len(items) == 1:
            data = self.post(f"{page}/photos", token, {"url": items[0].url, "caption": text, "published": True,
                                                       **self._alt(items[0])})
            return self._result(str(data.get("post_id") or data["id"]), token)
        body: dict[str, Any] = {"message": text, "published": True}
        if items:
            # Unpublished uploads are invisible until the feed post attaches them, so re-uploading is harmless.
            ids = [self.post(f"{page}/photos", token, {"url": m.url, "published": False, **self._alt(m)},
                             idempotent=True)["id"] for m in items]
            body["attached_media"] = [{"media_fbid": str(i)} for i in ids]
        elif request.content.link:
            body["link"] = request.content.link
        elif not text.strip():
            raise Rejected("There is nothing to post: the text is empty and there is no link or media.", code="empty")
        # Read-after-write: the new post's permalink comes back with its id, saving a second call.
        data = self.post(f"{page}/feed", token, body, fields="id,permalink_url")
        return self._result(str(data["id"]), token, link=data.get("permalink_url"))

    @staticmethod
    def _alt(item: MediaItem) -> dict[str, str]:
        return {"alt_text_custom": item.alt_text} if item.alt_text else {}

    def _result(self, object_id: str, token: str, link: str | None = None) -> PublishResult:
        if not link:
            try:
                link = self.get(object_id, token, fields="permalink_url").get("permalink_url")
            except PlatformError:
                link = None           # the post exists; a missing link is not a reason to post again
        if link and link.startswith("/"):     # videos answer with a path ("/page/videos/123/")
            link = "https://www.facebook.com" + link
        return PublishResult(external_id=object_id, url=link)

    # ------------------------------------------------------------ reconciliation
    def find_published(self, creds: Credentials, request: PublishRequest, *, since: datetime) -> PublishResult | None:
        """Match the Page's recent posts (or videos) by text and time; video posts are listed under /videos."""
        token = self.page_token(creds)
        video = any(m.kind == "video" for m in media_items(request))
        edge, text_field = ("videos", "description") if video else ("posts", "message")
        want = normalize_text(request.content.text)
        data = self.get(f"{creds.external_id}/{edge}", token, fields=f"id,{text_field},created_time,permalink_url",
                        limit=25)
        for item in data.get("data") or ():
            when = parse_graph_time(item.get("created_time"))
            if when is not None and when >= since and normalize_text(item.get(text_field) or "") == want:
                link = item.get("permalink_url")
                return PublishResult(external_id=str(item["id"]),
                                     url="https://www.facebook.com" + link if link and link.startswith("/") else link)
        return None

    # ------------------------------------------------------------ the first comment
    def post_comment(self, creds: Credentials, post: PublishResult, text: str) -> str:
        """POST /{post-id}/comments {message} as the Page (its token, pages_manage_engagement) -> {"id"}."""
        return str(self.post(f"{post.external_id}/comments", self.page_token(creds), {"message": text})["id"])

    def find_comment(self, creds: Credentials, post: PublishResult, text: str, *, since: datetime) -> str | None:
        """The Page's comment with this text under the post, made at or after `since` (newest first, 4 pages)."""
        return find_own_comment(self.get, f"{post.external_id}/comments", self.page_token(creds), text, since=since,
                                owner=creds.external_id, text_field="message", time_field="created_time",
                                params={"fields": "id,message,created_time,from", "limit": 50,
                                        "order": "reverse_chronological"})

    # ------------------------------------------------------------ metrics
    def post_metrics(self, creds: Credentials, external_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """Posts ("{page}_{post}") read /insights; videos (bare ids) read /video_insights. Empty = no data yet."""
        token = self.page_token(creds)
        out: dict[str, PostMetrics] = {}
        for object_id in external_ids:
            names = POST_METRICS if "_" in object_id else VIDEO_METRICS
            edge = "insights" if "_" in object_id else "video_insights"
            try:
                raw = insight_values(self.get(f"{object_id}/{edge}", token, metric=",".join(names.names)))
            except Rejected as exc:
                if str(exc.code).split("/")[0] == "100":
                    continue          # deleted since, or no longer this Page's: nothing to read, the others go on
                raise
            if not raw:
                continue
            out[object_id] = PostMetrics(object_id, names.normalise(raw), raw=raw)
        return out

    def account_metrics(self, creds: Credentials) -> AccountMetrics:
        data = self.get(str(creds.external_id), self.page_token(creds), fields="followers_count,fan_count")
        # fan_count (Page likes) stays in raw only
        return AccountMetrics(followers=metric_names.table("facebook").follower_count(data), raw=data)


def _maybe_applied(response: httpx.Response) -> bool:
    """Meta's "unknown error, try again" answers (codes 1 and 2, or is_transient): the request may have been done."""
    error = graph_error(response)
    return error.get("code") in (1, 2, "1", "2") or error.get("is_transient") is True
