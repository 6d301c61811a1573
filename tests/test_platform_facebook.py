"""The Facebook Page adapter against recorded Graph answers (facts §2), through tests.platform_harness."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.domain import RenderedContent
from core.domain.errors import OutcomeUnknown, ReconnectNeeded, Rejected, RetryLater, TokenExpired
from core.platforms.base import Credentials, MediaItem, PlatformConfig, PublishRequest, TokenSet
from core.domain.catalog import Platform
from core.platforms.facebook import FacebookAdapter
from tests.test_platform_instagram import fake_graph, graph_error

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
V = "/v25.0"
PAGE = "104000000000001"
CREDS = Credentials(access_token="EAAGuser", external_id=PAGE, expires_at=NOW + timedelta(days=50),
                    secrets={"page_access_token": "EAAPpage"})
JPG, JPG2, MP4 = "https://cdn.example/a.jpg", "https://cdn.example/b.jpg", "https://cdn.example/c.mp4"
PAGES = {"data": [{"id": PAGE, "name": "Outpost Bakery", "category": "Bakery", "access_token": "EAAPpage",
                   "tasks": ["CREATE_CONTENT"]},
                  {"id": "104000000000002", "name": "Side Project", "access_token": "EAAPother"}],
         "paging": {"cursors": {"before": "x", "after": "y"}}}


def make(routes=None, **config):
    graph = fake_graph(routes)
    adapter = FacebookAdapter(graph.client(),
                              PlatformConfig(client_id="fb-app", client_secret="fb-secret",
                                             redirect_uri="https://outpost.example/oauth/facebook", **config),
                              clock=lambda: NOW, sleep=lambda s: None)
    return adapter, graph


def req(text="Fresh bread at 7", media=(), link=""):
    content = RenderedContent(platform=Platform.FACEBOOK, text=text, caption=text, hashtags=(), media_urls=(),
                              link=link, title=None)
    return PublishRequest(content=content, media=tuple(media))


def permalink(object_id, url=None):
    return {("GET", f"{V}/{object_id}"): {"id": object_id,
                                          "permalink_url": url or f"https://www.facebook.com/{object_id}"}}


# ---------------------------------------------------------------- errors
BUC = {"x-business-use-case-usage": json.dumps(
    {PAGE: [{"type": "pages", "call_count": 100, "total_cputime": 40, "total_time": 60,
             "estimated_time_to_regain_access": 15}]})}

ERROR_CASES = [
    # (response, class, code, retry_at)
    (graph_error(190, "Error validating access token: Session has expired on Thursday, 30-Apr-26."),
     TokenExpired, "190", None),
    (graph_error(190, "Error validating access token: The session is invalid because the user logged out.", 467),
     TokenExpired, "190/467", None),
    (graph_error(190, "Error validating access token: The user is enrolled in a blocking, logged-in checkpoint", 459),
     ReconnectNeeded, "190/459", None),                                       # user must log in at facebook.com
    (graph_error(190, "Error validating access token: The user does not have a role on this Page.", 492),
     ReconnectNeeded, "190/492", None),
    (graph_error(200, "(#200) Requires pages_manage_posts permission to manage the object", 1404078,
                 error_user_title="Page Publishing Authorization Required"),
     ReconnectNeeded, "200/1404078", None),                                   # re-auth
    (graph_error(506, "(#506) Duplicate status message"), Rejected, "506", None),
    (graph_error(368, "It looks like you were misusing this feature by going too fast.", 1390008),
     RetryLater, "368/1390008", None),                                        # posting too fast
    (graph_error(32, "(#32) Page request limit reached", headers=BUC), RetryLater, "32",
     NOW + timedelta(minutes=15)),
    (graph_error(80001, "There have been too many calls to this Page account.", headers=BUC), RetryLater, "80001",
     NOW + timedelta(minutes=15)),
    (graph_error(613, "Calls to this api have exceeded the rate limit."), RetryLater, "613", None),
    # a 5xx on the posting call may come after the post was made: in doubt, not "retry"
    (graph_error(1, "An unknown error occurred", status=500), OutcomeUnknown, "1", None),
    (graph_error(100, "Photos should be smaller than 4 MB and saved as JPG, PNG", 1366046), Rejected,
     "100/1366046", None),
    (graph_error(100, "(#100) The photos have already been posted", 1366051), Rejected, "100/1366051", None),
    (graph_error(368, "Your content couldn't be shared, because this link goes against our Community Standards",
                 1346003), Rejected, "368/1346003", None),                    # flagged: permanent
    (graph_error(100, "Can't post facebook.com links", 1609008), Rejected, "100/1609008", None),
    (httpx.Response(503, text="Service Unavailable"), OutcomeUnknown, "503", None),
]


@pytest.mark.parametrize("response, cls, code, retry_at", ERROR_CASES)
def test_error_bodies_are_classified(response, cls, code, retry_at):
    adapter, graph = make({("POST", f"{V}/{PAGE}/feed"): response})
    with pytest.raises(cls) as info:
        adapter.publish(CREDS, req())
    assert type(info.value) is cls
    assert info.value.code == code and info.value.platform == "facebook"
    assert getattr(info.value, "retry_at", None) == retry_at
    assert len(graph.calls) == 1                          # one call, never retried by the adapter


@pytest.mark.parametrize("method, exc, cls", [
    ("POST", httpx.ReadTimeout("lost"), OutcomeUnknown),    # the post may exist: reconcile
    ("POST", httpx.ConnectError("refused"), RetryLater),    # never reached Facebook
    ("GET", httpx.ReadTimeout("lost"), RetryLater),         # a read changes nothing
])
def test_transport_errors(method, exc, cls):
    adapter, graph = make({("POST", f"{V}/{PAGE}/feed"): exc, ("GET", f"{V}/{PAGE}"): exc})
    with pytest.raises(cls):
        adapter.publish(CREDS, req()) if method == "POST" else adapter.account_metrics(CREDS)
    assert len(graph.calls) == 1


# ---------------------------------------------------------------- OAuth
def test_authorization_url_carries_the_configured_version():
    adapter, _ = make(api_version="v26.0")
    url = urlsplit(adapter.authorization_url(state="st-2"))
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (url.netloc, url.path) == ("www.facebook.com", "/v26.0/dialog/oauth")
    assert params == {"client_id": "fb-app", "redirect_uri": "https://outpost.example/oauth/facebook",
                      "state": "st-2", "response_type": "code",
                      "scope": "pages_show_list,pages_manage_posts,pages_read_engagement,read_insights,publish_video,"
                               "pages_manage_engagement"}


def test_exchange_code_then_long_lived_token_then_permissions():
    adapter, graph = make({
        ("GET", f"{V}/oauth/access_token"): [{"access_token": "EAAGshort", "token_type": "bearer", "expires_in": 3600},
                                             {"access_token": "EAAGlong", "token_type": "bearer",
                                              "expires_in": 5183944}],
        ("GET", f"{V}/me/permissions"): {"data": [{"permission": "pages_show_list", "status": "granted"},
                                                  {"permission": "pages_manage_posts", "status": "granted"},
                                                  {"permission": "read_insights", "status": "declined"}]}})
    token = adapter.exchange_code("AQBcode")
    assert graph.query("GET", f"{V}/oauth/access_token", 0) == {
        "client_id": "fb-app", "client_secret": "fb-secret", "redirect_uri": "https://outpost.example/oauth/facebook",
        "code": "AQBcode"}
    assert graph.query("GET", f"{V}/oauth/access_token", 1) == {
        "grant_type": "fb_exchange_token", "client_id": "fb-app", "client_secret": "fb-secret",
        "fb_exchange_token": "EAAGshort"}
    assert graph.calls[2].headers["authorization"] == "Bearer EAAGlong"
    assert token.access_token == "EAAGlong" and token.expires_at == NOW + timedelta(seconds=5183944)
    assert token.scopes == ("pages_show_list", "pages_manage_posts")
    assert adapter.missing_scopes(token) == ("pages_read_engagement", "read_insights", "publish_video",
                                             "pages_manage_engagement")


def test_a_refused_code_means_reconnect():
    adapter, graph = make({("GET", f"{V}/oauth/access_token"): graph_error(
        100, "Error validating verification code. Please make sure your redirect_uri is identical.", 36008)})
    with pytest.raises(ReconnectNeeded, match="redirect_uri is identical"):
        adapter.exchange_code("AQBcode")
    assert len(graph.calls) == 1


def test_refresh_re_exchanges_the_user_token():
    adapter, graph = make({("GET", f"{V}/oauth/access_token"): {"access_token": "EAAGnew", "expires_in": 5183944},
                           ("GET", f"{V}/me/permissions"): {"data": []}})
    assert adapter.refresh(CREDS).access_token == "EAAGnew"
    assert graph.query("GET", f"{V}/oauth/access_token")["fb_exchange_token"] == "EAAGuser"


def test_an_expired_token_cannot_be_refreshed():
    adapter, graph = make()
    with pytest.raises(ReconnectNeeded):
        adapter.refresh(Credentials(access_token="EAAGold", expires_at=NOW - timedelta(seconds=1)))
    assert graph.calls == []


def test_fetch_profile_returns_the_first_page_and_lists_all_without_tokens():
    adapter, graph = make({("GET", f"{V}/me/accounts"): PAGES})
    profile = adapter.fetch_profile(TokenSet(access_token="EAAGlong"))
    assert (profile.external_id, profile.display_name) == (PAGE, "Outpost Bakery")
    assert profile.meta["page_access_token"] == "EAAPpage"
    assert profile.meta["pages"] == [{"id": PAGE, "name": "Outpost Bakery"},
                                     {"id": "104000000000002", "name": "Side Project"}]
    assert "EAAPother" not in json.dumps(profile.meta["pages"])
    assert "EAAPpage" not in repr(profile) and json.dumps(profile.meta["page_access_token"]) == '"EAAPpage"'
    assert graph.calls[0].headers["authorization"] == "Bearer EAAGlong"


def test_a_login_without_pages_must_reconnect():
    adapter, _ = make({("GET", f"{V}/me/accounts"): {"data": []}})
    with pytest.raises(ReconnectNeeded, match="no Page"):
        adapter.fetch_profile(TokenSet(access_token="EAAGlong"))


# ---------------------------------------------------------------- publishing
def test_publish_text_and_link():
    adapter, graph = make({("POST", f"{V}/{PAGE}/feed"): {"id": f"{PAGE}_555"}, **permalink(f"{PAGE}_555")})
    result = adapter.publish(CREDS, req(link="https://bakery.example/menu"))
    assert graph.body("POST", f"{V}/{PAGE}/feed") == {"message": "Fresh bread at 7", "published": True,
                                                      "link": "https://bakery.example/menu"}
    assert all(r.headers["authorization"] == "Bearer EAAPpage" for r in graph.calls)   # the Page token posts
    assert (result.external_id, result.url) == (f"{PAGE}_555", f"https://www.facebook.com/{PAGE}_555")


def test_a_text_post_is_one_call_when_the_permalink_comes_back_with_the_id():
    url = f"https://www.facebook.com/{PAGE}/posts/555"
    adapter, graph = make({("POST", f"{V}/{PAGE}/feed"): {"id": f"{PAGE}_555", "permalink_url": url}})
    result = adapter.publish(CREDS, req())
    assert (result.external_id, result.url) == (f"{PAGE}_555", url)
    assert len(graph.calls) == 1 and graph.calls[0].url.params["fields"] == "id,permalink_url"   # read-after-write


def test_publish_one_photo():
    adapter, graph = make({("POST", f"{V}/{PAGE}/photos"): {"id": "777", "post_id": f"{PAGE}_556"},
                           **permalink(f"{PAGE}_556")})
    result = adapter.publish(CREDS, req(media=[MediaItem(JPG, alt_text="Sourdough")]))
    assert graph.body("POST", f"{V}/{PAGE}/photos") == {"url": JPG, "caption": "Fresh bread at 7", "published": True,
                                                        "alt_text_custom": "Sourdough"}
    assert result.external_id == f"{PAGE}_556"


def test_publish_several_photos_as_one_post():
    adapter, graph = make({("POST", f"{V}/{PAGE}/photos"): [{"id": "801"}, {"id": "802"}],
                           ("POST", f"{V}/{PAGE}/feed"): {"id": f"{PAGE}_557"}, **permalink(f"{PAGE}_557")})
    assert adapter.publish(CREDS, req(media=[MediaItem(JPG), MediaItem(JPG2)])).external_id == f"{PAGE}_557"
    assert [graph.body("POST", f"{V}/{PAGE}/photos", n) for n in (0, 1)] == [
        {"url": JPG, "published": False}, {"url": JPG2, "published": False}]      # unpublished uploads
    assert graph.body("POST", f"{V}/{PAGE}/feed") == {
        "message": "Fresh bread at 7", "published": True,
        "attached_media": [{"media_fbid": "801"}, {"media_fbid": "802"}]}


def test_publish_a_video_makes_its_relative_permalink_absolute():
    adapter, graph = make({("POST", f"{V}/{PAGE}/videos"): {"id": "9001"},
                           **permalink("9001", "/outpostbakery/videos/9001/")})
    result = adapter.publish(CREDS, req(media=[MediaItem(MP4, kind="video")]))
    assert graph.body("POST", f"{V}/{PAGE}/videos") == {"file_url": MP4, "description": "Fresh bread at 7",
                                                        "published": True}
    assert (result.external_id, result.url) == ("9001", "https://www.facebook.com/outpostbakery/videos/9001/")


def test_a_missing_permalink_does_not_fail_the_publish():
    adapter, graph = make({("POST", f"{V}/{PAGE}/feed"): {"id": f"{PAGE}_558"},
                           ("GET", f"{V}/{PAGE}_558"): httpx.ReadTimeout("slow")})
    result = adapter.publish(CREDS, req())
    assert (result.external_id, result.url) == (f"{PAGE}_558", None)
    assert graph.count("POST", f"{V}/{PAGE}/feed") == 1


@pytest.mark.parametrize("media, text, words", [
    ([MediaItem(MP4, kind="video"), MediaItem(JPG)], "x", "not several videos or both"),   # mixed
    ([MediaItem(MP4, kind="video")] * 2, "x", "not several videos or both"),                # two videos
    ([], "   ", "nothing to post"),                                                         # empty
])
def test_impossible_posts_are_rejected_without_a_call(media, text, words):
    adapter, graph = make()
    with pytest.raises(Rejected, match=words):
        adapter.publish(CREDS, req(text=text, media=media))
    assert graph.calls == []


def test_without_a_stored_page_token_it_is_looked_up():
    adapter, graph = make({("GET", f"{V}/me/accounts"): PAGES, ("POST", f"{V}/{PAGE}/feed"): {"id": f"{PAGE}_1"},
                           **permalink(f"{PAGE}_1")})
    adapter.publish(Credentials(access_token="EAAGuser", external_id=PAGE), req())
    assert graph.calls[0].headers["authorization"] == "Bearer EAAGuser"
    assert graph.calls[1].headers["authorization"] == "Bearer EAAPpage"


def test_a_page_no_longer_managed_must_reconnect():
    adapter, _ = make({("GET", f"{V}/me/accounts"): {"data": []}})
    with pytest.raises(ReconnectNeeded, match="no longer manages the Page"):
        adapter.publish(Credentials(access_token="EAAGuser", external_id=PAGE), req())


# ---------------------------------------------------------------- reconciliation
SINCE = NOW - timedelta(minutes=10)
POSTS = {"data": [
    {"id": f"{PAGE}_3", "message": "Closed on Monday", "created_time": "2026-05-01T11:58:00+0000"},
    {"id": f"{PAGE}_2", "message": "Fresh  bread\nat 7", "created_time": "2026-05-01T11:55:00+0000",
     "permalink_url": f"https://www.facebook.com/{PAGE}_2"},
    {"id": f"{PAGE}_1", "message": "Fresh bread at 7", "created_time": "2026-04-30T07:00:00+0000"},
]}


@pytest.mark.parametrize("text, since, found", [
    ("Fresh bread at 7", SINCE, f"{PAGE}_2"),        # same text after normalisation, after `since`
    ("Fresh bread at 7", NOW, None),                 # only older copies
    ("Never posted", SINCE, None),                   # no match
])
def test_find_published_matches_recent_posts(text, since, found):
    adapter, graph = make({("GET", f"{V}/{PAGE}/posts"): POSTS})
    result = adapter.find_published(CREDS, req(text=text), since=since)
    assert (result.external_id if result else None) == found
    assert graph.query("GET", f"{V}/{PAGE}/posts")["fields"] == "id,message,created_time,permalink_url"


def test_find_published_looks_for_videos_under_videos():
    adapter, graph = make({("GET", f"{V}/{PAGE}/videos"): {"data": [
        {"id": "9001", "description": "Fresh bread at 7", "created_time": "2026-05-01T11:59:00+0000",
         "permalink_url": "/outpostbakery/videos/9001/"}]}})
    result = adapter.find_published(CREDS, req(media=[MediaItem(MP4, kind="video")]), since=SINCE)
    assert (result.external_id, result.url) == ("9001", "https://www.facebook.com/outpostbakery/videos/9001/")


# ---------------------------------------------------------------- metrics
def insights(**values):
    return {"data": [{"name": k, "period": "lifetime", "values": [{"value": v}], "id": f"x/insights/{k}/lifetime"}
                     for k, v in values.items()]}


def test_post_and_video_metrics():
    adapter, graph = make({
        ("GET", f"{V}/{PAGE}_2/insights"): insights(post_media_view=610, post_total_media_view_unique=340,
                                                    post_reactions_by_type_total={"like": 20, "love": 5},
                                                    post_clicks=12),
        ("GET", f"{V}/9001/video_insights"): insights(total_video_views=900,
                                                      total_video_reactions_by_type_total={"like": 30}),
        ("GET", f"{V}/{PAGE}_3/insights"): {"data": []},                          # no data yet
    })
    out = adapter.post_metrics(CREDS, [f"{PAGE}_2", "9001", f"{PAGE}_3"])
    assert set(out) == {f"{PAGE}_2", "9001"}
    assert out[f"{PAGE}_2"].values == {"views": 610, "reach": 340, "likes": 25, "clicks": 12}
    assert out[f"{PAGE}_2"].raw["post_reactions_by_type_total"] == {"like": 20, "love": 5}
    assert out["9001"].values == {"video_views": 900, "likes": 30, "views": 900}
    assert graph.query("GET", f"{V}/{PAGE}_2/insights")["metric"] == \
        "post_media_view,post_total_media_view_unique,post_reactions_by_type_total,post_clicks"
    assert "impressions" not in graph.query("GET", f"{V}/9001/video_insights")["metric"]


def test_reel_metrics_use_reel_plays():
    adapter, _ = make({("GET", f"{V}/9002/video_insights"): insights(fb_reels_total_plays=4000)})
    assert adapter.post_metrics(CREDS, ["9002"])["9002"].values == {"video_views": 4000, "views": 4000}


def test_account_metrics_reads_followers_count():
    adapter, graph = make({("GET", f"{V}/{PAGE}"): {"followers_count": 2310, "fan_count": 2200, "id": PAGE}})
    metrics = adapter.account_metrics(CREDS)
    assert metrics.followers == 2310 and metrics.raw["fan_count"] == 2200
    assert graph.calls[0].headers["authorization"] == "Bearer EAAPpage"


# ---------------------------------------------------------------- the first comment (issue 11)
def test_first_comment_as_the_page_and_a_lost_one_found_among_the_pages_own():
    post = f"{PAGE}_122100000000001"
    adapter, graph = make({("POST", f"{V}/{post}/comments"): httpx.ReadTimeout("lost"),
                           ("GET", f"{V}/{post}/comments"): {"data": [
                               {"id": "c_other", "message": "Closed Monday", "created_time": "2026-05-01T12:00:01+0000",
                                "from": {"id": "999", "name": "A visitor"}},
                               {"id": "c_ours", "message": "Closed Monday", "created_time": "2026-05-01T12:00:02+0000",
                                "from": {"id": PAGE, "name": "Outpost Bakery"}}]}})
    saved: dict = {}
    request = PublishRequest(content=req().content, options={"first_comment": "Closed Monday"},
                             progress={"post:id": post}, checkpoint=saved.__setitem__)
    with pytest.raises(OutcomeUnknown):
        adapter.publish_post(CREDS, request)
    assert graph.calls[0].headers["authorization"] == "Bearer EAAPpage"        # the Page's token, not the user's
    again = PublishRequest(content=req().content, options={"first_comment": "Closed Monday"},
                           progress={"post:id": post, **saved})
    assert adapter.publish_post(CREDS, again).extra["first_comment_id"] == "c_ours"
    assert len(graph.made("POST", f"{V}/{post}/comments")) == 1
