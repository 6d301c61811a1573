"""Threads (Meta's Threads API, host graph.threads.net, version v1.0).

References: https://developers.facebook.com/docs/threads (access tokens:
.../get-started/get-access-tokens-and-permissions; posts: .../posts; insights: .../insights;
limits: .../overview#rate-limiting; troubleshooting: .../troubleshooting).

Threads is Instagram's container model with its own names: create a container per item
(``POST /{user}/threads``), wait until its ``status`` is FINISHED, then ``threads_publish`` it.
A container is invisible until published, so creating one twice is harmless and publishing
twice is not: the container id is saved before ``threads_publish``, and a retry first asks
whether that container is already PUBLISHED. Errors come in Meta's Graph envelope (facts §1.6).
That flow is `ContainerPublishing` (core/platforms/meta.py), shared with Instagram; this file
holds what is Threads': its names (edges, ``status``/``error_message``, ``th_`` progress keys),
text posts, form-encoded request bodies (``post``), what a container ERROR means, and one extra
check: after an error answer from ``threads_publish``, a container that says PUBLISHED means
OutcomeUnknown, not a failure.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, Sequence

import httpx

from core.domain.errors import OutcomeUnknown, PlatformError, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms import metric_names
from core.platforms.base import (AccountMetrics, Credentials, MediaItem, OAuthSpec, PlatformAdapter, PostMetrics,
                                 Profile, PublishRequest, PublishResult, TokenSet, normalize_text)
from core.domain.catalog import Platform
from core.platforms.meta import (LongLivedToken, ContainerPublishing, classify_graph, graph_error, insight_values, media_items,
                                 parse_graph_time)
from core.domain.timeutil import UTC

GRAPH = "https://graph.threads.net"
DEFAULT_VERSION = "v1.0"
MEDIA_METRICS = metric_names.table("threads").names     # views, likes, replies, reposts, quotes, shares
# What the threads listing calls each kind of post (its `media_type`).
LISTED_TYPES = {"TEXT": "TEXT_POST", "IMAGE": "IMAGE", "VIDEO": "VIDEO", "CAROUSEL": "CAROUSEL_ALBUM"}
CAROUSEL = (2, 20)            # the app allows 20; API support for 20 is unverified (facts §7.2)
# Container `error_message` values (Threads troubleshooting page) in words a marketer understands.
CONTAINER_ERRORS = {
    "FAILED_DOWNLOADING_VIDEO": "Threads could not download the video from its address",
    "FAILED_PROCESSING_VIDEO": "Threads could not process the video",
    "FAILED_PROCESSING_AUDIO": "Threads could not process the video's sound",
    "INVALID_ASPEC_RATIO": "the video's aspect ratio is not one Threads accepts",   # sic, Meta's spelling
    "INVALID_BIT_RATE": "the video's bit rate is not one Threads accepts",
    "INVALID_DURATION": "the video is too long or too short for Threads",
    "INVALID_FRAME_RATE": "the video's frame rate is not one Threads accepts",
    "INVALID_AUDIO_CHANNELS": "the video's sound channels are not ones Threads accepts",
    "INVALID_AUDIO_CHANNEL_LAYOUT": "the video's sound channel layout is not one Threads accepts",
}
RETRYABLE_CONTAINER_ERRORS = {"FAILED_DOWNLOADING_VIDEO", "UNKNOWN"}   # the file host may just have been slow


class ThreadsAdapter(LongLivedToken, ContainerPublishing, PlatformAdapter):
    platform = Platform.THREADS
    oauth = OAuthSpec(authorize_url="https://www.threads.net/oauth/authorize",
                      token_url="https://graph.threads.net/oauth/access_token",
                      scopes=("threads_basic", "threads_content_publish", "threads_manage_insights",
                              "threads_read_replies"),
                      scope_separator=",")
    HOSTS: tuple[str, ...] = ("graph.threads.net", "www.threads.net")
    GRAPH_HOST = GRAPH                         # token renewal: LongLivedToken (th_refresh_token, 24 h minimum age)
    REFRESH_GRANT = "th_refresh_token"
    # Meta's container model (ContainerPublishing), in Threads' names.
    LABEL = "Threads"
    PROGRESS_PREFIX = "th_"
    CONTAINER_EDGE = "threads"
    PUBLISH_EDGE = "threads_publish"
    STATUS_FIELD, STATUS_FIELDS = "status", "status,error_message"
    # Threads allows 250 API posts per profile per rolling 24 h (a carousel is one): it is read, not guessed.
    QUOTA_EDGE = "threads_publishing_limit"
    QUOTA_HOLDER = "profile"
    # Reconciliation reads the listing back to the attempt: 100 a page, at most 5 pages (the daily cap is 250).
    LISTING_PAGE = 100
    LISTING_PAGES = 5
    listing_lag: ClassVar[timedelta] = timedelta(minutes=5)    # a thread can take a while to show in the listing

    def url(self, path: str) -> str:
        return f"{GRAPH}/{self.config.api_version or DEFAULT_VERSION}/{path}"

    def get(self, path: str, token: str, **params: Any) -> dict:
        return self.request("GET", self.url(path), token=token, params=params).json()

    def post(self, path: str, token: str, data: dict[str, Any], *, idempotent: bool = False) -> dict:
        # A form body, not the query string: post text and media addresses stay out of URLs and logs.
        return self.request("POST", self.url(path), token=token, data=data, idempotent=idempotent).json()

    # ------------------------------------------------------------ errors
    def classify(self, response: httpx.Response) -> PlatformError:
        error = graph_error(response)
        if error.get("code") == 24 and error.get("error_subcode") == 4279009:
            # "Media Not Found" for a container made seconds ago: Threads has not caught up yet.
            return RetryLater(f"Threads says: {error.get('message') or 'the media was not found'} (it is still "
                              "settling in after upload).", code="24/4279009",
                              retry_at=self.clock() + self.NOT_READY_RETRY)
        if error.get("code") == 1 and "client secret" in str(error.get("message", "")).lower():
            # Code 1 is usually "try again", but not when the app's own secret is wrong.
            return Rejected(f"Threads says: {error.get('message')} Check Outpost's Threads app secret in the "
                            "settings.", code="1")
        return classify_graph(response, label="Threads", fallback=super().classify, now=self.clock())

    # ------------------------------------------------------------ OAuth
    def exchange_code(self, code: str, *, code_verifier: str | None = None) -> TokenSet:
        """Code -> 1 h token (oauth/access_token) -> 60 d token (th_exchange_token), in one step."""
        short = self._token_call(self.oauth.token_url, {
            "grant_type": "authorization_code", "code": code.removesuffix("#_"),   # Meta may append "#_"
            "redirect_uri": self.config.redirect_uri, "client_id": self.config.client_id})
        long = self._graph_token("access_token", grant_type="th_exchange_token",
                                 client_secret=self.config.client_secret, access_token=short["access_token"])
        user_id = short.get("user_id")
        return self.parse_token({**long, **({"user_id": str(user_id)} if user_id is not None else {})})

    def fetch_profile(self, token: TokenSet) -> Profile:
        data = self.get("me", token.access_token, fields="id,username,name,threads_profile_picture_url")
        return Profile(external_id=str(data.get("id") or token.extra["user_id"]), handle=data.get("username", ""),
                       display_name=data.get("name", ""),
                       meta={k: data[k] for k in ("threads_profile_picture_url",) if k in data})

    # ------------------------------------------------------------ publishing
    # publish() and its steps are ContainerPublishing's (core/platforms/meta.py); what is Threads' own:
    # text posts and the post types (_kind, _create), form bodies (post), the words for a container ERROR,
    # and the PUBLISHED check after an error answer from threads_publish (_publish_container).

    def _publish_container(self, user: str, token: str, container: str) -> str:
        try:
            return super()._publish_container(user, token, container)
        except (RetryLater, OutcomeUnknown, Rejected, ReconnectNeeded, TokenExpired) as exc:
            # Meta has answered threads_publish with an error (a 5xx, even "(#10) no permission" or an
            # "expired" token) for a post that went out: a container that says PUBLISHED is the proof, so
            # reconcile instead. (TokenExpired above all: the runner would refresh and publish once more.)
            if self._status_or_none(container, token) == "PUBLISHED":
                raise OutcomeUnknown(f"Threads answered with an error ({exc}) but published the post; its id is "
                                     "being looked up.", platform=self.platform.value, code="PUBLISHED") from None
            raise

    # ------------------------------------------------------------ threads of several posts
    # Each next post replies to the one before: a TEXT container with reply_to_id, published like any post (the
    # base class checkpoints each reply and looks a lost one up among the parent's replies before sending again).
    # The reply's container is saved ("reply_container:i") before it is published, and read back before anything
    # is sent again: PUBLISHED means the reply went out (found among the replies, or in doubt until a person
    # looks: never a second one, however late the listing), FINISHED that it did not (that same container is
    # published, not a new one).
    def post_reply(self, creds: Credentials, request: PublishRequest, parent_id: str, text: str, index: int) -> str:
        user, token = creds.external_id or "me", creds.access_token
        key, container = f"reply_container:{index}", None
        saved = request.progress.get(key)
        if saved:
            status = self._status(saved, token)      # None: Threads no longer knows it (a new one is made)
            if status == "PUBLISHED":
                found = self.find_reply(creds, parent_id, text, since=self.clock() - timedelta(days=1))
                if found:
                    return found
                raise OutcomeUnknown(f"Threads published post {index + 1} of the thread (container {saved}) but does "
                                     "not list it under the post before yet; it will not be sent again.",
                                     platform=self.platform.value, code="reply_published_not_listed")
            if status in ("FINISHED", "IN_PROGRESS"):
                container = saved                    # made, never published: publish this one
        if container is None:
            container = self._container(user, token, {"media_type": "TEXT", "text": text, "reply_to_id": parent_id})
            request.save(key, container)
        self._wait(container, token)
        return self._publish_container(user, token, container)

    def find_reply(self, creds: Credentials, parent_id: str, text: str, *, since: datetime) -> str | None:
        """This profile's reply to `parent_id` with these words since `since` (another person's identical reply
        is not ours: replies are told apart by their author's username)."""
        want = normalize_text(text)
        me = str(creds.meta.get("username") or "").lstrip("@").lower()
        data = self.get(f"{parent_id}/replies", creds.access_token, fields="id,text,timestamp,username", limit=50)
        for item in data.get("data") or ():
            if me and str(item.get("username") or "").lstrip("@").lower() != me:
                continue
            when = parse_graph_time(item.get("timestamp"))
            if normalize_text(item.get("text") or "") == want and (when is None or when >= since):
                return str(item["id"])
        return None

    def _status_or_none(self, container: str, token: str) -> str | None:
        try:
            return self._status(container, token)
        except PlatformError:
            return None

    def _kind(self, request: PublishRequest, items: Sequence[MediaItem]) -> str:
        if not items and not request.content.text.strip():
            raise Rejected("A Threads post needs text, an image or a video.", code="empty")
        if len(items) > CAROUSEL[1]:
            raise Rejected(f"A Threads carousel takes {CAROUSEL[0]} to {CAROUSEL[1]} items, not {len(items)}.",
                           code="carousel_size")
        if len(items) > 1:
            return "CAROUSEL"
        if items:
            return "VIDEO" if items[0].kind == "video" else "IMAGE"
        return "TEXT"

    def _item(self, item: MediaItem) -> dict[str, Any]:
        url = {"media_type": "VIDEO", "video_url": item.url} if item.kind == "video" else \
            {"media_type": "IMAGE", "image_url": item.url}
        return {**url, **({"alt_text": item.alt_text} if item.alt_text else {})}

    def _create(self, user: str, token: str, kind: str, items: Sequence[MediaItem], request: PublishRequest) -> str:
        text = {"text": request.content.text} if request.content.text else {}
        if kind == "TEXT":
            return self._container(user, token, {"media_type": "TEXT", **text})
        if kind == "CAROUSEL":
            children = self._children(user, token, items, request)
            return self._container(user, token, {"media_type": "CAROUSEL", "children": ",".join(children), **text})
        return self._container(user, token, {**self._item(items[0]), **text})

    def _child(self, item: MediaItem) -> dict[str, Any]:
        return {**self._item(item), "is_carousel_item": "true"}

    def _container_error(self, data: dict[str, Any]) -> PlatformError:
        """A container in ERROR: its ``error_message`` is one of Meta's codes (CONTAINER_ERRORS)."""
        reason = str(data.get("error_message") or "UNKNOWN")
        words = CONTAINER_ERRORS.get(reason, f"Threads could not use the media ({reason})")
        if reason in RETRYABLE_CONTAINER_ERRORS:
            return RetryLater(f"{words}; trying again.", code=reason)
        return Rejected(f"{words[0].upper()}{words[1:]}.", code=reason)

    def _quota_listing(self, total: int, start: datetime) -> dict[str, Any]:
        return {"since": int(start.timestamp()), "limit": 100}   # the window's posts, a page's worth

    # ------------------------------------------------------------ reconciliation
    def find_published(self, creds: Credentials, request: PublishRequest, *, since: datetime) -> PublishResult | None:
        """The thread `request` made, from the profile's threads since `since`: same text (or, without text, the
        one post of the same kind).

        None means "not there, safe to publish again", so it is never the answer when the saved container says
        PUBLISHED (the post went out; publishing again would make a second one, and publish() would only say
        OutcomeUnknown again). Threads gives no way from a container to the thread it became, so the listing is
        read in full back to `since` (every page, not the latest 25); a PUBLISHED container whose thread still
        cannot be told apart (its text was edited, or another post of the same kind has no text either) raises
        RetryLater (code ``published_not_found``): the runner asks again a few times (the listing can lag) and
        then hands the delivery to a person (needs_review) with these words. Never a second post.
        """
        token, user = creds.access_token, creds.external_id or "me"
        done, container, status = self._saved(request, token)
        if done is not None:
            return done               # the media id was saved: published
        if status is not None and status != "PUBLISHED":
            return None               # the container exists and was never published
        published = status == "PUBLISHED"
        want = normalize_text(request.content.text)
        if not want and not published:
            return None               # no text to match: only a PUBLISHED container proves a post
        kind = self._kind(request, media_items(request))
        extra = {"container_id": container} if container else {}
        candidates = []
        for item in self._listing(user, token, since):
            when = parse_graph_time(item.get("timestamp"))
            if when is None or when < since or normalize_text(item.get("text") or "") != want:
                continue
            if not want and LISTED_TYPES.get(kind) != item.get("media_type"):
                continue
            if want:                  # the same words since the attempt: this delivery's thread
                return PublishResult(external_id=str(item["id"]), url=item.get("permalink"), extra=extra)
            candidates.append(item)
        if len(candidates) == 1:      # without text, only a lone post of that kind is surely ours
            item = candidates[0]
            return PublishResult(external_id=str(item["id"]), url=item.get("permalink"), extra=extra)
        if published:
            why = ("its text is not among them (was it edited?)" if want else
                   f"{len(candidates)} posts without text could be it" if candidates else
                   "no post like it is among them")
            raise RetryLater(f"Threads says this post was published (container {container}), but Outpost cannot "
                             f"tell which of the profile's threads since {since.astimezone(UTC):%d %b %H:%M} UTC "
                             f"it is: {why}. It went out once and will not be posted again: check the profile and "
                             "mark the delivery published.", platform=self.platform.value,
                             code="published_not_found", retry_at=self.clock() + self.listing_lag)
        return None

    def _listing(self, user: str, token: str, since: datetime):
        """The profile's threads made since `since`, newest first, page after page (a bounded number)."""
        params: dict[str, Any] = {"fields": "id,text,timestamp,permalink,media_type", "since": int(since.timestamp()),
                                  "limit": self.LISTING_PAGE}
        for _ in range(self.LISTING_PAGES):
            page = self.get(f"{user}/threads", token, **params)
            yield from page.get("data") or []
            after = ((page.get("paging") or {}).get("cursors") or {}).get("after")
            if not (page.get("paging") or {}).get("next") or not after or not page.get("data"):
                return
            params["after"] = after

    # ------------------------------------------------------------ metrics
    def post_metrics(self, creds: Credentials, external_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """One insights call per thread (the media insights edge takes one id); empty data = no data yet."""
        out: dict[str, PostMetrics] = {}
        for media_id in external_ids:
            try:
                values = insight_values(self.get(f"{media_id}/insights", creds.access_token,
                                                 metric=",".join(MEDIA_METRICS)))
            except Rejected as exc:
                if str(exc.code).split("/")[0] == "100":
                    continue          # deleted, or not a thread of this profile: nothing to read
                raise
            if values:
                # Every way Threads counts passing a post on (reposts, quotes, shares) is a share.
                out[media_id] = PostMetrics(media_id, metric_names.table("threads").normalise(values), raw=values)
        return out

    def account_metrics(self, creds: Credentials) -> AccountMetrics:
        data = self.get(f"{creds.external_id or 'me'}/threads_insights", creds.access_token, metric="followers_count")
        values = insight_values(data)
        return AccountMetrics(followers=metric_names.table("threads").follower_count(values), raw=values)

