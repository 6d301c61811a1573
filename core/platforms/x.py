"""X (formerly Twitter): API v2 posts, chunked media upload, threads, metrics.

API reference: https://docs.x.com/x-api/posts/create-post , https://docs.x.com/x-api/media/quickstart/media-upload-chunked ,
https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code and
https://docs.x.com/x-api/fundamentals/rate-limits . Facts sheet §4.
"""
from __future__ import annotations

import html
import mimetypes
import re
from datetime import datetime, timedelta
from typing import Any, Callable, ClassVar, Sequence

import httpx

from core.domain.errors import OutcomeUnknown, PlatformError, Rejected, RetryLater, TokenExpired
from core.platforms import metric_names
from core.platforms.base import (AccountMetrics, Credentials, MediaItem, OAuthSpec, PlatformAdapter, PostMetrics,
                                 Profile, PublishRequest, PublishResult, TokenSet, checkpoint_time,
                                 json_object, normalize_text)
from core.domain.catalog import Platform
from core.domain.timeutil import UTC

API = "https://api.x.com/2"
SEGMENT_BYTES = 5_000_000          # X takes up to 8 MB per append; its docs advise staying at or under 5 MB
SNOWFLAKE_EPOCH_MS = 1288834974657  # post ids carry their creation time (ms since this epoch) in the high bits
_URL = re.compile(r"https?://\S+")


def _comparable(text: str) -> str:
    """Text as X gives it back: entities unescaped, and every URL (X wraps them in t.co) made the same."""
    return normalize_text(_URL.sub("<url>", html.unescape(text or "")))


def created_at(post_id: str) -> datetime | None:
    """When a post was made, read from its snowflake id (None if the id is not one)."""
    if not post_id.isdigit():
        return None
    return datetime.fromtimestamp(((int(post_id) >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, UTC)


class XAdapter(PlatformAdapter):
    platform: ClassVar[Platform] = Platform.X
    oauth: ClassVar[OAuthSpec] = OAuthSpec(
        authorize_url="https://x.com/i/oauth2/authorize",
        token_url="https://api.x.com/2/oauth2/token",
        scopes=("tweet.read", "tweet.write", "users.read", "media.write", "offline.access"),
        pkce=True, rotates_refresh_token=True, basic_auth=True)
    HOSTS: ClassVar[tuple[str, ...]] = ("api.x.com", "x.com")
    MEDIA_POLLS: ClassVar[int] = 30
    NON_PUBLIC_DAYS: ClassVar[int] = 30     # non_public_metrics exist only for posts at most 30 days old
    threads_itself: ClassVar[bool] = True   # publish() posts the thread's replies (tweet:i checkpoints)

    # ------------------------------------------------------------ errors
    def classify(self, response: httpx.Response) -> PlatformError:
        status = response.status_code
        body = json_object(response)
        legacy = (body.get("errors") or [{}])[0] if isinstance(body.get("errors"), list) else {}
        detail = body.get("detail") or legacy.get("message") or body.get("title") or ""
        problem = str(body.get("type") or "")
        code = problem.rsplit("/", 1)[-1] if "/problems/" in problem else str(legacy.get("code") or status)
        if status == 401:
            return TokenExpired("X did not accept the access token (expired or revoked).", code=code)
        if status == 429:
            return RetryLater(f"X is rate limiting this account ({detail or 'too many requests'}).", code=code,
                              retry_at=self.retry_at(response), rate_limited=True)
        if status >= 500:
            return RetryLater(f"X had a temporary problem ({status}).", code=code)
        if status == 403 and "duplicate" in detail.lower():
            return Rejected("X refuses duplicate posts: this exact text was already posted.", code="duplicate")
        if status == 403:
            return Rejected(f"X does not allow this: {detail or 'forbidden'}", code=code)
        return Rejected(f"X refused the request ({status}{': ' + detail if detail else ''}).", code=code)

    def retry_at(self, response: httpx.Response) -> datetime | None:
        """X sends no Retry-After; the window that is used up says when it resets (unix seconds)."""
        resets = []
        for prefix in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"):
            reset = response.headers.get(f"{prefix}-reset", "")
            if reset.isdigit() and response.headers.get(f"{prefix}-remaining", "0") == "0":
                resets.append(datetime.fromtimestamp(int(reset), UTC))
        return max(resets) if resets else super().retry_at(response)

    # ------------------------------------------------------------ OAuth and profile
    def authorization_url(self, *, state: str, code_challenge: str | None = None) -> str:
        if not code_challenge:
            raise ValueError("X requires PKCE: pass the S256 code_challenge from pkce_pair().")
        return super().authorization_url(state=state, code_challenge=code_challenge)

    def exchange_code(self, code: str, *, code_verifier: str | None = None) -> TokenSet:
        if not code_verifier:
            raise ValueError("X requires PKCE: pass the code_verifier that matches the code_challenge.")
        return super().exchange_code(code, code_verifier=code_verifier)

    def fetch_profile(self, token: TokenSet) -> Profile:
        data = self.request("GET", f"{API}/users/me?user.fields=public_metrics", token=token.access_token).json()
        user = data["data"]
        return Profile(external_id=user["id"], handle="@" + user["username"], display_name=user.get("name", ""),
                       meta={"username": user["username"]})

    # ------------------------------------------------------------ publishing
    def publish(self, creds: Credentials, request: PublishRequest) -> PublishResult:
        """Post the text (with media), then each `options["thread"]` text as a reply to the one before.

        Every posted id is saved at once, so a retry resumes the chain where it stopped instead of
        re-posting; each reply is checkpointed before it is sent, and one whose answer was lost is looked up
        among the account's replies to the post before it (after the settle window and the listing lag, it is
        sent again only when still absent).
        """
        progress = dict(request.progress)

        def save(key: str, value: str) -> None:
            progress[key] = value
            request.save(key, value)

        texts = [request.content.text, *(request.options.get("thread") or ())]
        ids: list[str] = []
        for i, text in enumerate(texts):
            key = f"tweet:{i}"
            if not progress.get(key):
                if i == 0:
                    media_ids = [self._upload(creds, item, n, progress, save) for n, item in enumerate(request.media)]
                    body: dict[str, Any] = {"text": text}
                    if media_ids:
                        body["media"] = {"media_ids": media_ids}
                    # The publisher's own "sent" checkpoint covers the first post (find_published looks it up).
                    save(key, self._post(creds, body))
                    save("post:url", self._url(creds, progress[key]))
                else:
                    save(key, self._reply(creds, progress, i, len(texts), ids[-1], text, save))
            ids.append(progress[key])
        return PublishResult(external_id=ids[0], url=self._url(creds, ids[0]), extra={"thread_ids": ids})

    def _post(self, creds: Credentials, body: dict) -> str:
        return self.request("POST", f"{API}/tweets", token=creds.access_token, json=body).json()["data"]["id"]

    def _reply(self, creds: Credentials, progress: dict, i: int, total: int, parent: str, text: str,
               save: Callable[[str, str], None]) -> str:
        """Post `i` of a thread (a reply to `parent`), made once: checkpointed before it is sent; an earlier send
        whose answer was lost is looked up among the account's replies before anything is sent again."""
        sent_key = f"tweet_sent:{i}"
        sent = checkpoint_time(progress.get(sent_key))
        if sent is not None:
            found = self._find_reply(creds, parent, text, since=sent - timedelta(minutes=5))
            if found:
                return found
            if self.clock() < sent + self.settle_window + self.listing_lag:
                raise OutcomeUnknown(f"The first post is on X, but the answer to post {i + 1} of the thread was "
                                     "lost and X does not show it yet.", platform=self.platform.value,
                                     code="reply_in_doubt")
            # Not there a settle window and a listing lag after it was sent: it was never made.
        save(sent_key, self.clock().isoformat())
        try:
            return self._post(creds, {"text": text, "reply": {"in_reply_to_tweet_id": parent}})
        except (RetryLater, TokenExpired):
            save(sent_key, "")                         # certainly not made: sending it again is safe
            raise
        except Rejected as exc:
            raise Rejected(f"X refused post {i + 1} of {total} of the thread: {exc}", platform=self.platform.value,
                           code=exc.code, http_status=exc.http_status) from None

    def _find_reply(self, creds: Credentials, parent: str, text: str, *, since: datetime) -> str | None:
        """The account's reply to `parent` with this text, made at or after `since` (its recent posts)."""
        start = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        data = self.request("GET", f"{API}/users/{creds.external_id}/tweets?max_results=100&start_time={start}"
                                   "&tweet.fields=created_at,text,referenced_tweets", token=creds.access_token).json()
        wanted = _comparable(text)
        for post in data.get("data") or []:
            replied_to = {r.get("id") for r in post.get("referenced_tweets") or () if r.get("type") == "replied_to"}
            if parent in replied_to and _comparable(post.get("text", "")) == wanted:
                return post["id"]
        return None

    def live_post(self, progress) -> PublishResult | None:
        if progress.get("tweet:0"):
            post_id = progress["tweet:0"]
            return PublishResult(post_id, progress.get("post:url") or f"https://x.com/i/status/{post_id}")
        return None

    def mark_live(self, request: PublishRequest, post: PublishResult) -> None:
        request.save("tweet:0", post.external_id)
        request.save("post:url", post.url or "")

    def followups_pending(self, request: PublishRequest) -> bool:
        replies = request.options.get("thread") or ()
        return any(not request.progress.get(f"tweet:{i}") for i in range(1, len(replies) + 1))

    def _url(self, creds: Credentials, post_id: str) -> str:
        # Without the username, X's /i/status/ form opens the same post; no extra call after posting.
        return f"https://x.com/{creds.meta.get('username') or 'i'}/status/{post_id}"

    def _upload(self, creds: Credentials, item: MediaItem, index: int, progress: dict, save: Callable) -> str:
        """Upload one media item (initialize, append, finalize, wait) and return its id as a string."""
        done, pending = f"media:{index}", f"media_pending:{index}"
        if done in progress:
            return progress[done]
        if pending not in progress:
            data = self.download_media(item)
            mime = item.mime or mimetypes.guess_type(item.url)[0] or ("video/mp4" if item.kind == "video" else "image/jpeg")
            category = "tweet_video" if item.kind == "video" else "tweet_gif" if mime == "image/gif" else "tweet_image"
            # Uploads publish nothing, so a lost answer is safe to retry: idempotent=True.
            media_id = str(self.request("POST", f"{API}/media/upload/initialize", token=creds.access_token,
                                        idempotent=True, json={"media_type": mime, "total_bytes": len(data),
                                                               "media_category": category}).json()["data"]["id"])
            for segment, start in enumerate(range(0, len(data), SEGMENT_BYTES)):
                self.request("POST", f"{API}/media/upload/{media_id}/append", token=creds.access_token,
                             idempotent=True, data={"segment_index": str(segment)},
                             files={"media": ("media", data[start:start + SEGMENT_BYTES], "application/octet-stream")})
            final = self.request("POST", f"{API}/media/upload/{media_id}/finalize", token=creds.access_token,
                                 idempotent=True).json()["data"]
            if not final.get("processing_info"):
                save(done, media_id)
                return media_id
            save(pending, media_id)
            info = final["processing_info"]
        else:   # an earlier attempt finalized it: only the wait is left
            media_id = progress[pending]
            info = self._processing(creds, media_id)
        for _ in range(self.MEDIA_POLLS):
            if info.get("state") == "succeeded":
                save(done, media_id)
                return media_id
            if info.get("state") == "failed":
                error = info.get("error") or {}
                raise Rejected(f"X could not process the media: {error.get('message') or 'processing failed'}.",
                               platform=self.platform.value, code=str(error.get("code") or "media_failed"))
            self.sleep(min(float(info.get("check_after_secs") or 1), 60.0))    # a bound, whatever X asks
            info = self._processing(creds, media_id)
        raise RetryLater("X is still processing the media.", platform=self.platform.value, code="media_in_progress",
                         retry_at=self.clock() + timedelta(seconds=float(info.get("check_after_secs") or 30)))

    def _processing(self, creds: Credentials, media_id: str) -> dict:
        data = self.request("GET", f"{API}/media/upload?command=STATUS&media_id={media_id}",
                            token=creds.access_token).json()["data"]
        return data.get("processing_info") or {"state": "succeeded"}

    # ------------------------------------------------------------ reconciliation
    def find_published(self, creds: Credentials, request: PublishRequest, *, since: datetime) -> PublishResult | None:
        """The account's post with this text made at or after `since` (its recent posts, newest first)."""
        if request.progress.get("tweet:0"):
            return PublishResult(request.progress["tweet:0"], self._url(creds, request.progress["tweet:0"]))
        start = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        data = self.request("GET", f"{API}/users/{creds.external_id}/tweets?max_results=20&start_time={start}"
                                   "&tweet.fields=created_at,text", token=creds.access_token).json()
        wanted = _comparable(request.content.text)
        for post in data.get("data") or []:
            made = post.get("created_at")
            # A post with media comes back with one more t.co link at the end.
            if _comparable(post.get("text", "")) in (wanted, wanted + " <url>") and (
                    not made or datetime.fromisoformat(made.replace("Z", "+00:00")) >= since):
                return PublishResult(post["id"], self._url(creds, post["id"]))
        return None

    # ------------------------------------------------------------ metrics
    def post_metrics(self, creds: Credentials, external_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """Metrics per post, 100 ids a call; private metrics only asked for posts young enough to have them."""
        cutoff = self.clock() - timedelta(days=self.NON_PUBLIC_DAYS)
        recent = [i for i in external_ids if (created_at(i) or cutoff) > cutoff]
        old = [i for i in external_ids if i not in recent]
        out: dict[str, PostMetrics] = {}
        for ids, fields in ((recent, "public_metrics,non_public_metrics,attachments"),
                            (old, "public_metrics,attachments")):
            batch = metric_names.table("x").batch              # GET /2/tweets takes up to 100 ids
            for start in range(0, len(ids), batch):
                data = self.request("GET", f"{API}/tweets?ids={','.join(ids[start:start + batch])}"
                                           f"&tweet.fields={fields}&expansions=attachments.media_keys"
                                           "&media.fields=public_metrics", token=creds.access_token).json()
                views = {m["media_key"]: (m.get("public_metrics") or {}).get("view_count")
                         for m in (data.get("includes") or {}).get("media", [])}
                for post in data.get("data") or []:
                    out[post["id"]] = self._metrics(post, views)
        return out

    @staticmethod
    def _metrics(post: dict, media_views: dict) -> PostMetrics:
        """Through metric_names' X table: an old post (no non_public_metrics) has no clicks, not 0 clicks."""
        public, private = post.get("public_metrics") or {}, post.get("non_public_metrics") or {}
        keys = (post.get("attachments") or {}).get("media_keys", [])
        raw = {"public_metrics": public, **({"non_public_metrics": private} if private else {})}
        flat = metric_names.flatten(raw)
        played = [media_views[k] for k in keys if media_views.get(k) is not None]
        if played:
            flat["media.view_count"] = sum(int(v) for v in played)
        return PostMetrics(post["id"], metric_names.table("x").normalise(flat), raw)

    def account_metrics(self, creds: Credentials) -> AccountMetrics:
        data = self.request("GET", f"{API}/users/me?user.fields=public_metrics", token=creds.access_token).json()
        metrics = (data.get("data") or {}).get("public_metrics") or {}
        return AccountMetrics(followers=metric_names.table("x").follower_count(metrics), raw=metrics)
