"""Bluesky (AT Protocol): app-password sessions, posts with facets and images, metrics.

API reference: https://docs.bsky.app/docs/api/com-atproto-server-create-session ,
https://docs.bsky.app/docs/tutorials/creating-a-post , https://docs.bsky.app/docs/advanced-guides/rate-limits ,
https://atproto.com/specs/record-key . Facts sheet §8.

Bluesky connects with an app password, not a consent page: `com.atproto.server.createSession` gives an
accessJwt and a refreshJwt (kept in the account's encrypted token fields; the password is never stored),
and `com.atproto.server.refreshSession` renews them (the refresh token rotates). Calls go to the account's
own PDS, read from the session's DID document, else to `options["service"]` (default https://bsky.social).

Exactly once: each delivery gets its own record key (a TID saved with the delivery before the first
attempt) and `createRecord` is called with it, so a retry can only ever hit the same key: the adapter asks
`getRecord` for that key before trying again, and a key that already exists is the post, not a second one.
(A PDS that refuses client-chosen keys gets none, for the post nor for its thread's replies; those are
reconciled by listing the repo, and a 5xx on their createRecord is OutcomeUnknown, since nothing would stop a
retry from posting twice. A thread's first post, once made, is never made again: a retry goes on from it.)
Facet offsets are UTF-8 byte offsets, never character indexes.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
import time
from datetime import datetime, timedelta
from typing import Any, Callable, ClassVar, Sequence
from urllib.parse import urlsplit

import httpx

from core.domain.errors import (ConfigurationError, OutcomeUnknown, PlatformError, ReconnectNeeded, Rejected, RetryLater,
                         TokenExpired)
from core.media.probe import UnsupportedMediaError, inspect_media
# The SSRF checks media links go through (public addresses only, redirects checked again), for link cards too.
from core.media.fetch import fetch_public
from core.platforms import metric_names
from core.platforms.base import (AccountMetrics, Credentials, MediaItem, OAuthSpec, PlatformAdapter,
                                 PostMetrics, Profile, PublishRequest, PublishResult, TokenSet, checkpoint_time,
                                 json_object, normalize_text)
from core.domain.catalog import Platform
from core.domain.timeutil import UTC

ENTRYWAY = "https://bsky.social"
SANDBOX_PDS = "morel.us-east.host.bsky.network"     # the PDS the emulator's DID documents name
POST = "app.bsky.feed.post"
BATCH = 25                                          # app.bsky.feed.getPosts takes at most 25 uris
_TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"
_TRAILING = ".,;:!?'\""
_LINK = re.compile(r"(?:^|(?<=[\s(\[]))(https?://[^\s<>\"]+)")
_MENTION = re.compile(r"(?:^|(?<=[\s(\[]))@([a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+)")
_TAG = re.compile(r"(?:^|(?<=\s))[#＃]([^\s#＃]+)")
_META = re.compile(r"<meta\s+[^>]*>", re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
# Link cards: what Outpost reads of the linked page, and for how long.
CARD_MAX_BYTES = 512 * 1024
CARD_REDIRECTS = 3
CARD_TIMEOUT_S = 5.0
# An image given by address is downloaded at most this big (Bluesky itself takes about 1 MB an image).
IMAGE_DOWNLOAD_MAX = 20 * 1_000_000
# core.media fetch failures worth another attempt later (the rest are the link's fault, for good).
log = logging.getLogger("outpost.platforms.bluesky")

# What a person is told when Bluesky refuses a session, by Bluesky's error name.
_SESSION_WORDS = {
    "AuthenticationRequired": "Bluesky did not accept that handle and app password. Check both and try again.",
    "AuthFactorTokenRequired": "Bluesky asked for the sign-in code it emails you, which means this was your main "
                               "password. Use an app password instead (Bluesky: Settings > Privacy and security > "
                               "App passwords).",
    "AccountTakedown": "Bluesky has suspended this account.",
    "AccountDeactivated": "This Bluesky account is deactivated; reactivate it on Bluesky first.",
    "MainPassword": "That is your main Bluesky password. Outpost only takes an app password, which can post but "
                    "not change your account (Bluesky: Settings > Privacy and security > App passwords).",
    "InvalidToken": "Bluesky no longer accepts this session (the app password was deleted or the session was "
                    "revoked). Connect the account again.",
}


def tid(micros: int, clock_id: int) -> str:
    """A TID record key: 53 bits of microseconds and 10 of clock id, base32-sortable, 13 characters."""
    n = (micros << 10) | (clock_id & 0x3FF)
    return "".join(_TID_CHARS[(n >> (5 * i)) & 31] for i in reversed(range(13)))


def delivery_rkey(marker: str, now: datetime) -> str:
    """The record key for one delivery: the time of its first attempt, its marker as the clock id."""
    clock_id = int.from_bytes(hashlib.sha256((marker or "").encode()).digest()[:2], "big")
    return tid(int(now.timestamp() * 1_000_000), clock_id)


def jwt_claims(token: str | None) -> dict:
    """A JWT's claims, read without verifying them (only to know when it expires and what it may do)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (AttributeError, IndexError, TypeError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def jwt_expiry(token: str | None) -> datetime | None:
    """The `exp` claim of a JWT as a time, or None."""
    try:
        return datetime.fromtimestamp(int(jwt_claims(token)["exp"]), UTC)
    except (KeyError, TypeError, ValueError):
        return None


def pds_of(session: dict) -> str | None:
    """The PDS endpoint named in a session's DID document, if it names one."""
    for service in ((session.get("didDoc") or {}).get("service") or []):
        if str(service.get("id", "")).endswith("#atproto_pds") and service.get("serviceEndpoint"):
            return str(service["serviceEndpoint"]).rstrip("/")
    return None


def _span(text: str, start: int, end: int) -> dict:
    """A facet index in UTF-8 bytes (Bluesky's unit), from character positions."""
    before = len(text[:start].encode("utf-8"))
    return {"byteStart": before, "byteEnd": before + len(text[start:end].encode("utf-8"))}


def _trim(value: str) -> str:
    value = value.rstrip(_TRAILING)
    if value.endswith(")") and "(" not in value:
        value = value[:-1]
    return value


def facets(text: str, resolve: Callable[[str], str | None]) -> list[dict]:
    """Links, mentions (resolved to DIDs; unknown handles are left as text) and hashtags, with byte offsets."""
    out = []
    for match in _LINK.finditer(text):
        uri = _trim(match.group(1))
        out.append({"index": _span(text, match.start(1), match.start(1) + len(uri)),
                    "features": [{"$type": "app.bsky.richtext.facet#link", "uri": uri}]})
    for match in _MENTION.finditer(text):
        handle = match.group(1).rstrip(".")
        did = resolve(handle.lower())
        if did:
            out.append({"index": _span(text, match.start(), match.start(1) + len(handle)),
                        "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}]})
    for match in _TAG.finditer(text):
        tag = _trim(match.group(1))
        if tag and not tag.isdigit() and len(tag) <= 64:
            out.append({"index": _span(text, match.start(), match.start(1) + len(tag)),
                        "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}]})
    return sorted(out, key=lambda f: f["index"]["byteStart"])


def card_from_html(uri: str, page: str) -> dict:
    """An app.bsky.embed.external card from a page's og: tags (or <title>), with the URL as the last resort."""
    meta: dict[str, str] = {}
    for tag in _META.findall(page[:200_000]):
        key = re.search(r'(?:property|name)\s*=\s*["\']([^"\']+)', tag, re.I)
        value = re.search(r'content\s*=\s*["\']([^"\']*)', tag, re.I)
        if key and value:
            meta.setdefault(key.group(1).lower(), html.unescape(value.group(1)).strip())
    title = meta.get("og:title") or (html.unescape(_TITLE.search(page).group(1)).strip() if _TITLE.search(page) else "")
    return {"$type": "app.bsky.embed.external",
            "external": {"uri": uri, "title": title[:300] or uri,
                         "description": (meta.get("og:description") or meta.get("description") or "")[:1000]}}


def _moment(value: Any) -> datetime | None:
    """A record's createdAt as an aware time; one written without a zone is read as UTC (None if unreadable)."""
    try:
        moment = datetime.fromisoformat(str(value or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _images(record: dict) -> list[dict]:
    """The images a post record embeds (app.bsky.embed.images, or the media of a recordWithMedia)."""
    embed = record.get("embed") or {}
    if isinstance(embed, dict) and isinstance(embed.get("media"), dict):
        embed = embed["media"]
    images = embed.get("images") if isinstance(embed, dict) else None
    return [i for i in images if isinstance(i, dict)] if isinstance(images, list) else []


def _cid(blob: Any) -> str:
    """A blob's CID: ``{"ref": {"$link": cid}}`` (or the legacy ``{"cid": cid}``)."""
    if not isinstance(blob, dict):
        return ""
    ref = blob.get("ref")
    return str((ref.get("$link") if isinstance(ref, dict) else None) or blob.get("cid") or "")


class BlueskyAdapter(PlatformAdapter):
    platform: ClassVar[Platform] = Platform.BLUESKY
    # No consent page: the session endpoints stand in for OAuth's (refresh rotates, like X's).
    oauth: ClassVar[OAuthSpec] = OAuthSpec(authorize_url="", token_url=f"{ENTRYWAY}/xrpc/com.atproto.server.createSession",
                                           scopes=(), rotates_refresh_token=True)
    HOSTS: ClassVar[tuple[str, ...]] = ("bsky.social", SANDBOX_PDS)

    # The Accounts page asks for a handle and an app password instead of sending people to a consent page.
    connect_with: ClassVar[str] = "app_password"

    @property
    def service(self) -> str:
        return str(self.config.options.get("service") or ENTRYWAY).rstrip("/")

    def _pds(self, creds: Credentials) -> str:
        return str(creds.meta.get("pds") or self.service).rstrip("/")

    def _xrpc(self, base: str, method: str) -> str:
        return f"{base}/xrpc/{method}"

    # ------------------------------------------------------------ errors
    def classify(self, response: httpx.Response) -> PlatformError:
        status = response.status_code
        body = json_object(response)
        name, said = str(body.get("error") or ""), str(body.get("message") or "")
        login = response.request.url.path.endswith("com.atproto.server.createSession")
        if status == 429 or name == "RateLimitExceeded":
            return RetryLater("Bluesky is rate limiting this account." + (" Too many sign-ins: wait a few minutes."
                                                                          if login else ""),
                              code=name or "429", retry_at=self.retry_at(response), rate_limited=True)
        if name == "ExpiredToken":
            return TokenExpired("Bluesky's session expired.", code=name)
        if name in _SESSION_WORDS:
            words = _SESSION_WORDS[name]
            if name == "AuthenticationRequired" and not login:
                words = _SESSION_WORDS["InvalidToken"]
            return ReconnectNeeded(words, code=name)
        if status == 401 or name in ("AuthMissing", "AuthRequired"):
            return ReconnectNeeded(f"Bluesky refused Outpost's session ({said or name or status}). "
                                   "Connect the account again.", code=name or "401")
        if status >= 500:
            return RetryLater(f"Bluesky had a temporary problem ({status}).", code=name or str(status),
                              retry_at=super().retry_at(response))
        if name == "BlobTooLarge":
            return Rejected(f"An image is too large for Bluesky: {said}", code=name)
        return Rejected(f"Bluesky refused the post: {said or name or status}", code=name or str(status))

    def retry_at(self, response: httpx.Response) -> datetime | None:
        """Bluesky's ratelimit-reset is unix seconds."""
        reset = response.headers.get("ratelimit-reset", "")
        if reset.isdigit():
            return datetime.fromtimestamp(int(reset), UTC)
        return super().retry_at(response)

    # ------------------------------------------------------------ sessions
    def authorization_url(self, *, state: str, code_challenge: str | None = None) -> str:
        raise ConfigurationError("Bluesky connects with a handle and an app password, not a consent page.")

    def exchange_code(self, code: str, *, code_verifier: str | None = None) -> TokenSet:
        raise ConfigurationError("Bluesky connects with a handle and an app password, not a consent page.")

    def login(self, identifier: str, password: str) -> TokenSet:
        """createSession with a handle (or DID or email) and an app password; the password goes no further."""
        identifier = identifier.strip().lstrip("@")
        if identifier and "." not in identifier and not identifier.startswith("did:"):
            identifier += ".bsky.social"          # people often type just their name
        data = self.request("POST", self._xrpc(self.service, "com.atproto.server.createSession"), idempotent=True,
                            json={"identifier": identifier, "password": password}).json()
        if jwt_claims(data.get("accessJwt")).get("scope") == "com.atproto.access":
            # A main-password session can change the account's settings and password: not for a scheduler.
            raise ReconnectNeeded(_SESSION_WORDS["MainPassword"], platform=self.platform.value, code="main_password")
        return self._session(data)

    def _session(self, data: dict) -> TokenSet:
        access, refresh = data["accessJwt"], data["refreshJwt"]
        return TokenSet(access_token=access, refresh_token=refresh, expires_at=jwt_expiry(access),
                        refresh_expires_at=jwt_expiry(refresh), issued_at=self.clock(),
                        extra={"did": data["did"], "handle": data["handle"], "pds": pds_of(data) or self.service})

    def refresh(self, creds: Credentials) -> TokenSet:
        """refreshSession with the refresh JWT; it rotates, so the new one must be kept."""
        if not creds.refresh_token:
            raise ReconnectNeeded("Bluesky gave no refresh token; connect the account again.",
                                  platform=self.platform.value, code="no_refresh_token")
        try:
            # A lost answer must not look like "posted": refreshing creates nothing (idempotent=True).
            data = self.request("POST", self._xrpc(self._pds(creds), "com.atproto.server.refreshSession"),
                                token=creds.refresh_token, idempotent=True).json()
        except (TokenExpired, Rejected, ReconnectNeeded) as exc:
            raise ReconnectNeeded(f"Bluesky would not renew the session ({exc}) Connect the account again with an "
                                  "app password.", platform=self.platform.value, code=exc.code) from None
        return self._session(data)

    def can_refresh(self, creds: Credentials) -> bool:
        return bool(creds.refresh_token) and (creds.refresh_expires_at is None
                                              or creds.refresh_expires_at > self.clock())

    def fetch_profile(self, token: TokenSet) -> Profile:
        did, handle, pds = token.extra["did"], token.extra["handle"], token.extra.get("pds") or self.service
        profile = self.request("GET", self._xrpc(pds, "app.bsky.actor.getProfile"), params={"actor": did},
                               token=token.access_token).json()
        return Profile(external_id=did, handle="@" + handle, display_name=profile.get("displayName") or handle,
                       meta={"username": handle, "did": did, "pds": pds})

    # ------------------------------------------------------------ publishing
    # A thread: each reply is a record of its own whose `reply` names the thread's first post (root) and the post
    # before (parent), each under a record key of its own chosen before it is first sent, so a reply can only
    # ever be made once (a second createRecord under a taken key is refused); no listing is needed to tell.
    # A PDS that refuses client-chosen keys (the first post's "rkey" saved as "") chooses the replies' keys too:
    # each reply is checkpointed before it is sent ("reply_sent:i"), and one whose answer was lost is looked for
    # in the repo's listing, and sent again only once the settle window and the listing lag have passed.
    # Once the first post exists ("post:id") it is never made again: a retry goes on from the saved post.
    threads_itself: ClassVar[bool] = True

    def followups_pending(self, request: PublishRequest) -> bool:
        replies = request.options.get("thread") or ()
        return any(not request.progress.get(f"reply:{i}") for i in range(1, len(replies) + 1))

    def publish(self, creds: Credentials, request: PublishRequest) -> PublishResult:
        """The post (`_publish_post`, or the one an earlier attempt made), then the thread's replies."""
        replies = [str(t) for t in request.options.get("thread") or ()]
        progress = dict(request.progress)

        def save(key: str, value: str) -> None:
            progress[key] = value
            request.save(key, value)

        if progress.get("post:id"):          # made by an earlier attempt: never made a second time
            main = self._saved_post(creds, progress["post:id"], progress.get("post:url") or None,
                                    progress.get("post:cid") or "", what="The first post of this thread")
        else:
            main = self._publish_main(creds, request, progress, save)
            if replies:
                save("post:id", main.external_id)
                save("post:url", main.url or "")
                save("post:cid", str(main.extra.get("cid") or ""))
        if not replies:
            return main
        root = parent = {"uri": main.external_id, "cid": str(main.extra.get("cid") or "")}
        uris = [main.external_id]
        for i, text in enumerate(replies, start=1):
            done = self._reply(creds, request, i, len(replies) + 1, text, root, parent, progress, save)
            parent = {"uri": done.external_id, "cid": str(done.extra.get("cid") or "")}
            uris.append(done.external_id)
        return PublishResult(main.external_id, main.url, extra={**main.extra, "thread_ids": uris})

    def _saved_post(self, creds: Credentials, uri: str, url: str | None, cid: str, *, what: str) -> PublishResult:
        """A post an earlier attempt made, from its saved uri (and cid; asked of the PDS when not saved)."""
        rkey = uri.rsplit("/", 1)[-1]
        if cid:
            return PublishResult(uri, url or self._url(creds, rkey), extra={"cid": cid, "rkey": rkey})
        found = self._existing(creds, rkey)
        if found is None:
            raise Rejected(f"{what} was posted, but it is no longer on Bluesky (was it deleted?), so the rest of the "
                           "thread cannot reply to it. Nothing more was posted.", platform=self.platform.value,
                           code="thread_parent_gone")
        return PublishResult(uri, url or found.url, extra=dict(found.extra))

    def idempotent_retry(self, request: PublishRequest, *, sent_at: datetime, now: datetime) -> bool:
        # Under our own record key a second createRecord cannot make a second post: the PDS refuses a taken key.
        # A reply sent without one (the PDS chose its key) is in doubt like any post: that waits.
        progress = request.progress
        replies = request.options.get("thread") or ()
        if any(progress.get(f"reply_sent:{i}") and not progress.get(f"reply_rkey:{i}")
               and not progress.get(f"reply:{i}") for i in range(1, len(replies) + 1)):
            return False
        return bool(progress.get("rkey"))

    def _reply(self, creds: Credentials, request: PublishRequest, i: int, total: int, text: str, root: dict,
               parent: dict, progress: dict, save: Callable[[str, str], None]) -> PublishResult:
        key, sent_key = f"reply_rkey:{i}", f"reply_sent:{i}"
        if progress.get(f"reply:{i}"):       # made by an earlier attempt
            return self._saved_post(creds, progress[f"reply:{i}"], None, progress.get(f"reply_cid:{i}") or "",
                                    what=f"Post {i + 1} of {total} of the thread")
        if progress.get(key):                # chosen by an earlier attempt: it may have been made
            found = self._existing(creds, progress[key])
            if found is not None:
                return self._reply_done(i, found, save)
        elif key in progress:                # sent without a key (the PDS chooses): look before sending again
            self._look_for_reply(creds, i, total, text, parent, progress, save)
            if progress.get(f"reply:{i}"):
                return self._saved_post(creds, progress[f"reply:{i}"], None, progress.get(f"reply_cid:{i}") or "",
                                        what=f"Post {i + 1} of {total} of the thread")
        else:                                # a PDS that refused the first post's key refuses these too
            save(key, delivery_rkey(f"{request.marker}:reply:{i}", self.clock()) if progress.get("rkey") != "" else "")
        rkey = progress[key]
        now = self.clock().astimezone(UTC)
        record: dict[str, Any] = {"$type": POST, "text": text, "reply": {"root": root, "parent": parent},
                                  "createdAt": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"}
        found_facets = facets(text, lambda handle: self._resolve(creds, handle))
        if found_facets:
            record["facets"] = found_facets
        url = self._xrpc(self._pds(creds), "com.atproto.repo.createRecord")
        body = {"repo": creds.external_id, "collection": POST, "record": record, **({"rkey": rkey} if rkey else {})}
        try:
            data = self._create_reply(url, creds, body, sent_key, save)
        except (RetryLater, OutcomeUnknown, Rejected) as exc:
            if rkey and ((exc.http_status or 0) >= 500 or re.search(r"already (exists|a value)", str(exc), re.I)):
                found = self._existing(creds, rkey)      # the key is taken: ours, from a lost answer
                if found is not None:
                    return self._reply_done(i, found, save)
            if not (rkey and isinstance(exc, Rejected) and re.search(r"rkey|record key", str(exc), re.I)):
                if isinstance(exc, Rejected):
                    raise self._refused(exc, i, total) from None
                raise
            # A PDS that will not take a client-chosen key: let it choose; a lost answer is then looked up.
            save(key, "")
            body.pop("rkey")
            rkey = ""
            try:
                data = self._create_reply(url, creds, body, sent_key, save)
            except Rejected as again:
                raise self._refused(again, i, total) from None
        rkey = rkey or data["uri"].rsplit("/", 1)[-1]
        return self._reply_done(i, PublishResult(data["uri"], self._url(creds, rkey),
                                                 extra={"cid": data.get("cid"), "rkey": rkey}), save)

    def _create_reply(self, url: str, creds: Credentials, body: dict, sent_key: str,
                      save: Callable[[str, str], None]) -> dict:
        """createRecord for a reply. Without a key of ours its send time is saved first (a lost answer is then
        looked up by listing), and cleared when the PDS certainly made nothing (refused, limited, or the session
        expired); a 5xx or a lost answer (OutcomeUnknown) keeps it."""
        if "rkey" in body:
            return self._create(url, creds, body)
        save(sent_key, self.clock().isoformat())
        try:
            return self._create(url, creds, body)
        except (RetryLater, TokenExpired, Rejected):
            save(sent_key, "")
            raise

    def _refused(self, exc: Rejected, i: int, total: int) -> Rejected:
        return Rejected(f"Bluesky refused post {i + 1} of {total} of the thread: {exc}", platform=self.platform.value,
                        code=exc.code, http_status=exc.http_status)

    def _reply_done(self, i: int, done: PublishResult, save: Callable[[str, str], None]) -> PublishResult:
        save(f"reply:{i}", done.external_id)
        save(f"reply_cid:{i}", str(done.extra.get("cid") or ""))
        return done

    def _look_for_reply(self, creds: Credentials, i: int, total: int, text: str, parent: dict, progress: dict,
                        save: Callable[[str, str], None]) -> None:
        """A reply sent without a key of ours whose answer was lost: find it in the repo (saved as made), or raise
        OutcomeUnknown while the PDS may still apply it or its listing may not show it yet; after both it is
        not there and may be sent again."""
        sent = checkpoint_time(progress.get(f"reply_sent:{i}"))
        if sent is None:
            return                           # never sent, or certainly not made
        found = self._find_reply(creds, text, parent["uri"], since=sent - timedelta(minutes=5))
        if found is not None:
            self._reply_done(i, found, save)
            return
        if self.clock() < sent + self.settle_window + self.listing_lag:
            raise OutcomeUnknown(f"The first post is on Bluesky, but the answer to post {i + 1} of {total} of the "
                                 "thread was lost and Bluesky does not show it yet.", platform=self.platform.value,
                                 code="reply_in_doubt")

    def _find_reply(self, creds: Credentials, text: str, parent_uri: str, *, since: datetime) -> PublishResult | None:
        """This account's reply to `parent_uri` with these words, made at or after `since`, among its latest 50."""
        data = self.request("GET", self._xrpc(self._pds(creds), "com.atproto.repo.listRecords"),
                            params={"repo": creds.external_id, "collection": POST, "limit": 50},
                            token=creds.access_token).json()
        wanted = normalize_text(text)
        for item in data.get("records") or []:
            value = item.get("value") or {}
            made = _moment(value.get("createdAt"))
            replied_to = ((value.get("reply") or {}).get("parent") or {}).get("uri")
            if replied_to == parent_uri and made is not None and made >= since \
                    and normalize_text(value.get("text", "")) == wanted:
                rkey = item["uri"].rsplit("/", 1)[-1]
                return PublishResult(item["uri"], self._url(creds, rkey), extra={"cid": item.get("cid"), "rkey": rkey})
        return None

    def _publish_main(self, creds: Credentials, request: PublishRequest, progress: dict,
                      save: Callable[[str, str], None]) -> PublishResult:
        """Upload the images, then createRecord under this delivery's own record key (`progress` is what this
        attempt knows, kept up to date by `save`: the thread's replies follow the key it settles on)."""
        if any(item.kind == "video" for item in request.media):
            raise Rejected("Outpost cannot post videos to Bluesky yet; use images (up to 4).",
                           platform=self.platform.value, code="video_unsupported")
        if progress.get("rkey"):             # an earlier attempt may have made it: look before posting again
            found = self._existing(creds, progress["rkey"])
            if found is not None:
                return found
        elif "rkey" not in progress:
            save("rkey", delivery_rkey(request.marker, self.clock()))
        rkey = progress["rkey"]              # "" once this PDS has refused a key of ours: it chooses
        text = request.content.text
        now = self.clock().astimezone(UTC)
        record: dict[str, Any] = {"$type": POST, "text": text,
                                  "createdAt": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"}
        langs = request.options.get("langs") or ([request.options["language"]] if request.options.get("language")
                                                 else self.config.options.get("langs"))
        if langs:
            record["langs"] = list(langs)[:3]
        found_facets = facets(text, lambda handle: self._resolve(creds, handle))
        if found_facets:
            record["facets"] = found_facets
        images = [self._image(creds, item, i, progress, save) for i, item in enumerate(request.media)]
        if images:
            record["embed"] = {"$type": "app.bsky.embed.images", "images": images}
        else:
            links = [f["features"][0]["uri"] for f in found_facets if f["features"][0]["$type"].endswith("#link")]
            if len(links) == 1 and self.config.options.get("link_cards", True):
                card = self._card(links[0])
                if card:
                    record["embed"] = card
        url = self._xrpc(self._pds(creds), "com.atproto.repo.createRecord")
        body = {"repo": creds.external_id, "collection": POST, "record": record, **({"rkey": rkey} if rkey else {})}
        try:
            data = self._create(url, creds, body)
        except (RetryLater, OutcomeUnknown, Rejected) as exc:
            # The PDS answers 500 when the key is taken (atproto#3718): it may be ours from a lost answer.
            if rkey and ((exc.http_status or 0) >= 500 or re.search(r"already (exists|a value)", str(exc), re.I)):
                found = self._existing(creds, rkey)
                if found is not None:
                    return found
            if not (rkey and isinstance(exc, Rejected) and re.search(r"rkey|record key", str(exc), re.I)):
                raise
            # A PDS that will not take a client-chosen key: let it choose, and reconcile by listing instead.
            save("rkey", "")
            body.pop("rkey")
            rkey = ""
            data = self._create(url, creds, body)
        rkey = rkey or data["uri"].rsplit("/", 1)[-1]
        return PublishResult(data["uri"], self._url(creds, rkey), extra={"cid": data.get("cid"), "rkey": rkey})

    def _create(self, url: str, creds: Credentials, body: dict) -> dict:
        """createRecord. A 5xx or a lost answer may hide a post that was made: OutcomeUnknown (the base's rule), so
        the runner looks first; under our own key it may then send again at once (`idempotent_retry`)."""
        return self.request("POST", url, token=creds.access_token, json=body).json()

    def _url(self, creds: Credentials, rkey: str) -> str:
        return f"https://bsky.app/profile/{creds.meta.get('username') or creds.external_id}/post/{rkey}"

    def _existing(self, creds: Credentials, rkey: str) -> PublishResult | None:
        try:
            data = self.request("GET", self._xrpc(self._pds(creds), "com.atproto.repo.getRecord"),
                                params={"repo": creds.external_id, "collection": POST, "rkey": rkey},
                                token=creds.access_token).json()
        except Rejected as exc:
            if exc.code == "RecordNotFound":
                return None
            raise
        return PublishResult(data["uri"], self._url(creds, rkey), extra={"cid": data.get("cid"), "rkey": rkey})

    def _resolve(self, creds: Credentials, handle: str) -> str | None:
        try:
            return self.request("GET", self._xrpc(self._pds(creds), "com.atproto.identity.resolveHandle"),
                                params={"handle": handle}, token=creds.access_token).json().get("did")
        except Rejected:                      # no such handle: the mention stays plain text
            return None

    def _image(self, creds: Credentials, item: MediaItem, index: int, progress: dict, save: Callable) -> dict:
        """uploadBlob once per image (saved with the delivery), with its alt text and aspect ratio."""
        key = f"blob:{index}"
        if key in progress:
            return json.loads(progress[key])
        data = self.download_media(item, max_bytes=IMAGE_DOWNLOAD_MAX, allowed_types=("image/",),
                                   extra_hosts=self._card_hosts())
        try:
            info = inspect_media(data, item.mime, item.url.rsplit("/", 1)[-1].split("?")[0])
        except UnsupportedMediaError as exc:
            raise Rejected(str(exc), platform=self.platform.value, code="media_unreadable") from None
        if info.kind != "image":
            raise Rejected("Outpost cannot post videos to Bluesky yet; use images (up to 4).",
                           platform=self.platform.value, code="video_unsupported")
        # A blob is not a post: uploading again after a lost answer is harmless (idempotent=True).
        blob = self.request("POST", self._xrpc(self._pds(creds), "com.atproto.repo.uploadBlob"),
                            token=creds.access_token, idempotent=True, content=data,
                            headers={"Content-Type": info.mime}).json()["blob"]
        entry: dict[str, Any] = {"image": blob, "alt": item.alt_text or ""}
        if info.width and info.height:
            entry["aspectRatio"] = {"width": info.width, "height": info.height}
        save(key, json.dumps(entry))
        return entry

    def _card(self, uri: str) -> dict | None:
        """A link card for a lone link, from the page's own title and description; none if the page will not say.

        The link is the post author's, so it is fetched like a media link (core.media): http(s) only, every
        address public (loopback, private, link-local and metadata addresses refused, the connection pinned to
        the address checked), at most CARD_REDIRECTS redirects each checked again, CARD_MAX_BYTES of the page
        and CARD_TIMEOUT_S in all. In sandbox mode the emulator's own address is allowed. Whatever goes wrong
        only means no card: this runs after the delivery was marked sent, and must never fail the post.
        """
        try:
            page = self._fetch_page(uri)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, OSError, LookupError):   # MediaFetchError: a ValueError
            return None
        except Exception:  # noqa: BLE001 - a card is a nicety; the post goes out without one
            log.warning("link card for a Bluesky post could not be made", exc_info=True)
            return None
        if page is None:
            return None
        content_type, text = page
        return card_from_html(uri, text if "html" in content_type else "")

    def _card_hosts(self) -> list[str]:
        """Hosts a card or image may be fetched from although they are not public: the sandbox emulator's, and
        any the operator lists in options["card_allow_hosts"]."""
        hosts = [urlsplit(target).netloc for target in self.config.host_overrides.values()]
        return [h for h in hosts + list(self.config.options.get("card_allow_hosts") or ()) if h]

    def _fetch_page(self, uri: str) -> tuple[str, str] | None:
        """(content type, text) of the page at `uri`, or None when it does not answer with one."""
        return fetch_public(self.resolve(uri), self._card_read, client=self.client, timeout_s=CARD_TIMEOUT_S,
                            allow_hosts=self._card_hosts(), max_redirects=CARD_REDIRECTS, resolver=self.resolve_host,
                            accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.1")

    @staticmethod
    def _card_read(response: httpx.Response, url: httpx.URL, deadline: float) -> tuple[str, str] | None:
        if not 200 <= response.status_code < 300:
            return None
        content_type = response.headers.get("content-type", "").lower()
        if "html" not in content_type:
            return content_type, ""   # not a page: a card with the link alone, and nothing read
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) >= CARD_MAX_BYTES or time.monotonic() > deadline:
                break                 # the head, where the og: tags are, comes first: read no more
        charset = response.charset_encoding or "utf-8"
        try:
            return content_type, bytes(body[:CARD_MAX_BYTES]).decode(charset, errors="replace")
        except LookupError:           # a charset Python does not know
            return content_type, bytes(body[:CARD_MAX_BYTES]).decode("utf-8", errors="replace")

    # ------------------------------------------------------------ reconciliation
    def find_published(self, creds: Credentials, request: PublishRequest, *, since: datetime) -> PublishResult | None:
        """By this delivery's record key when it has one (exact); else from the latest 50 posts.

        Without a key (a PDS that picks its own), a post made at or after `since` is this delivery's only when
        its text, its number of images and their alt texts match, and so do the images' blob CIDs when this
        delivery saved them (they are saved before createRecord). A post with no text and nothing exact to tell
        it from another media-only post is not taken for this one: a look-alike raises Rejected (code
        ``ambiguous``), so a person decides instead of the delivery being marked published unsent.
        """
        if request.progress.get("rkey"):
            return self._existing(creds, request.progress["rkey"])
        data = self.request("GET", self._xrpc(self._pds(creds), "com.atproto.repo.listRecords"),
                            params={"repo": creds.external_id, "collection": POST, "limit": 50},
                            token=creds.access_token).json()
        wanted = normalize_text(request.content.text)
        alts = sorted(normalize_text(item.alt_text or "") for item in request.media)
        cids = self._blob_cids(request, len(request.media))
        alike = []
        for item in data.get("records") or []:
            value = item.get("value") or {}
            made = _moment(value.get("createdAt"))
            if made is None or made < since or normalize_text(value.get("text", "")) != wanted:
                continue
            images = _images(value)
            if len(images) != len(request.media) or sorted(normalize_text(i.get("alt") or "") for i in images) != alts:
                continue
            if cids and sorted(_cid(i.get("image")) for i in images) != cids:
                continue
            if wanted or cids:
                rkey = item["uri"].rsplit("/", 1)[-1]
                return PublishResult(item["uri"], self._url(creds, rkey), extra={"cid": item.get("cid")})
            alike.append(item)
        if not alike:
            return None
        raise Rejected(f"An earlier attempt may have posted this, and {len(alike)} of the account's recent posts "
                       "without text look like it; Outpost cannot tell whether one of them is this delivery's. Check "
                       "the account, then mark it published or try again.", platform=self.platform.value,
                       code="ambiguous")

    @staticmethod
    def _blob_cids(request: PublishRequest, count: int) -> list[str]:
        """The CIDs of the images this delivery uploaded, sorted; [] unless every one was saved."""
        cids = []
        for index in range(count):
            try:
                cids.append(_cid(json.loads(request.progress[f"blob:{index}"]).get("image")))
            except (KeyError, TypeError, ValueError, AttributeError):
                return []
        return sorted(cids) if cids and all(cids) else []

    # ------------------------------------------------------------ metrics
    def post_metrics(self, creds: Credentials, external_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """Likes, reposts (+ quotes) and replies, 25 posts a call."""
        out: dict[str, PostMetrics] = {}
        uris = list(dict.fromkeys(external_ids))
        for start in range(0, len(uris), BATCH):
            data = self.request("GET", self._xrpc(self._pds(creds), "app.bsky.feed.getPosts"),
                                params=[("uris", u) for u in uris[start:start + BATCH]], token=creds.access_token).json()
            for view in data.get("posts") or []:
                raw = {k: view[k] for k in ("likeCount", "repostCount", "replyCount", "quoteCount") if k in view}
                out[view["uri"]] = PostMetrics(view["uri"], metric_names.table("bluesky").normalise(raw), raw)
        return out

    def account_metrics(self, creds: Credentials) -> AccountMetrics:
        profile = self.request("GET", self._xrpc(self._pds(creds), "app.bsky.actor.getProfile"),
                               params={"actor": creds.external_id}, token=creds.access_token).json()
        raw = {k: profile.get(k) for k in ("followersCount", "followsCount", "postsCount")}
        return AccountMetrics(followers=metric_names.table("bluesky").follower_count(raw), raw=raw)
