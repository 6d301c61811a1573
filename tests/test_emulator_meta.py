"""Instagram containers and Facebook Pages on the emulator's Graph API."""
from __future__ import annotations

import pytest

from tests.conftest_emulator import background_done, emu, http, sandbox  # noqa: F401

DAY = 86400


@pytest.fixture
def ig(sandbox):
    creds = sandbox.accounts("instagram", handle="ig_publisher")[0]
    base = sandbox.base_url("graph.instagram.com") + "/v25.0"
    return sandbox, base, creds["ig_user_id"], creds["access_token"]


def image_url(emu, w=1080, h=1350):
    return f"{emu.url}/_media/sample.jpg?w={w}&h={h}"


def create(http, base, user, token, **params):
    return http.post(f"{base}/{user}/media", params={**params, "access_token": token})


def status(http, base, container, token):
    return http.get(f"{base}/{container}", params={"fields": "status_code,status", "access_token": token}).json()


def test_image_container_publish_and_permalink(ig, http):
    emu, base, user, token = ig
    container = create(http, base, user, token, image_url=image_url(emu), caption="Hello #sandbox")
    assert container.status_code == 200, container.text
    cid = container.json()["id"]
    emu.advance(1)
    assert status(http, base, cid, token)["status_code"] == "FINISHED"
    published = http.post(f"{base}/{user}/media_publish", data={"creation_id": cid, "access_token": token})
    assert published.status_code == 200, published.text
    media_id = published.json()["id"]
    assert status(http, base, cid, token)["status_code"] == "PUBLISHED"
    again = http.post(f"{base}/{user}/media_publish", params={"creation_id": cid, "access_token": token})
    assert again.status_code == 400 and again.json()["error"]["code"] == 9007   # never published twice
    info = http.get(f"{base}/{media_id}", params={"fields": "permalink,caption,media_type,timestamp",
                                                  "access_token": token}).json()
    assert info["permalink"].startswith("https://www.instagram.com/p/") and info["caption"] == "Hello #sandbox"
    assert info["media_type"] == "IMAGE"
    listing = http.get(f"{base}/{user}/media", params={"fields": "id,caption,timestamp,permalink",
                                                       "access_token": token}).json()
    assert [m["id"] for m in listing["data"]] == [media_id]
    [post] = emu.posts("instagram")
    assert post["external_id"] == media_id and post["text"] == "Hello #sandbox"


def test_reel_publish_before_finished_is_9007_then_works(ig, http):
    emu, base, user, token = ig
    cid = create(http, base, user, token, media_type="REELS", video_url=f"{emu.url}/_media/sample.mp4?seconds=6",
                 caption="reel").json()["id"]
    early = http.post(f"{base}/{user}/media_publish", params={"creation_id": cid, "access_token": token})
    assert early.status_code == 400
    err = early.json()["error"]
    assert (err["code"], err["error_subcode"], err["message"]) == (9007, 2207027, "The media is not ready for publishing.")
    assert err["type"] == "OAuthException" and err["fbtrace_id"]
    emu.advance(2)
    background_done(emu)                     # the video fetch runs in the background
    assert status(http, base, cid, token)["status_code"] == "FINISHED"
    assert http.post(f"{base}/{user}/media_publish", params={"creation_id": cid, "access_token": token}).status_code \
        == 200
    assert emu.posts("instagram")[0]["kind"] == "reels"


def test_container_expires_after_24_hours(ig, http):
    emu, base, user, token = ig
    cid = create(http, base, user, token, image_url=image_url(emu)).json()["id"]
    emu.advance(DAY + 1)
    assert status(http, base, cid, token)["status_code"] == "EXPIRED"
    late = http.post(f"{base}/{user}/media_publish", params={"creation_id": cid, "access_token": token})
    assert late.status_code == 400 and late.json()["error"]["error_subcode"] == 2207020


def test_media_fetch_failure_is_2207052(ig, http):
    emu, base, user, token = ig
    missing = create(http, base, user, token, image_url=f"{emu.url}/_media/missing.jpg")
    not_image = create(http, base, user, token, image_url=f"{emu.url}/_control/health")
    for answer in (missing, not_image):
        assert answer.status_code == 400
        assert answer.json()["error"]["error_subcode"] == 2207052
    remote = create(http, base, user, token, image_url="https://cdn.example.com/photo.jpg")   # not fetched offline
    assert remote.status_code == 200


def test_video_fetch_failure_turns_the_container_to_error(ig, http):
    emu, base, user, token = ig
    cid = create(http, base, user, token, media_type="REELS", video_url=f"{emu.url}/_media/sample.jpg").json()["id"]
    background_done(emu)
    body = status(http, base, cid, token)
    assert body["status_code"] == "ERROR" and "2207052" in body["status"]


@pytest.mark.parametrize("w, h", [
    (1080, 1920),   # 9:16 is taller than 4:5, the feed's limit
    (2000, 1000),   # 2:1 is wider than 1.91:1
])
def test_feed_image_aspect_ratio(ig, http, w, h):
    emu, base, user, token = ig
    answer = create(http, base, user, token, image_url=image_url(emu, w, h))
    assert answer.status_code == 400
    assert (answer.json()["error"]["code"], answer.json()["error"]["error_subcode"]) == (36003, 2207009)


def test_png_is_refused_and_stories_take_any_ratio(ig, http):
    emu, base, user, token = ig
    png = create(http, base, user, token, image_url=f"{emu.url}/_media/sample.png")
    assert png.status_code == 400 and png.json()["error"]["error_subcode"] == 2207005
    story = create(http, base, user, token, media_type="STORIES", image_url=image_url(emu, 1080, 1920))
    assert story.status_code == 200
    emu.advance(1)
    story_id = http.post(f"{base}/{user}/media_publish", params={"creation_id": story.json()["id"],
                                                                 "access_token": token}).json()["id"]

    def listed(edge):
        return [m["id"] for m in http.get(f"{base}/{user}/{edge}", params={"access_token": token}).json()["data"]]

    assert (listed("stories"), listed("media")) == ([story_id], [])   # stories are not in /media
    emu.advance(86400)
    assert listed("stories") == []                                     # gone after 24 hours


def test_hashtag_limit_is_configurable(ig, http):
    emu, base, user, token = ig
    caption = " ".join(f"#tag{i}" for i in range(6))
    assert create(http, base, user, token, image_url=image_url(emu), caption=caption).status_code == 200
    emu.configure(ig_hashtag_max=5)
    refused = create(http, base, user, token, image_url=image_url(emu), caption=caption)
    assert refused.status_code == 400 and "hashtags" in refused.json()["error"]["message"]


def test_carousel_needs_two_to_ten_items(ig, http):
    emu, base, user, token = ig
    kids = [create(http, base, user, token, image_url=image_url(emu), is_carousel_item="true").json()["id"]
            for _ in range(2)]
    lonely = create(http, base, user, token, media_type="CAROUSEL", children=kids[0])
    assert lonely.status_code == 400 and "too little or too many attachments" in lonely.json()["error"]["message"]
    parent = http.post(f"{base}/{user}/media", json={"media_type": "CAROUSEL", "children": kids, "caption": "two",
                                                     "access_token": token})
    assert parent.status_code == 200, parent.text
    emu.advance(1)
    assert http.post(f"{base}/{user}/media_publish", params={"creation_id": parent.json()["id"],
                                                             "access_token": token}).status_code == 200
    assert len(emu.posts("instagram")[0]["media"]) == 2


def test_publishing_quota_is_a_rolling_24_hours(ig, http):
    emu, base, user, token = ig
    emu.configure(ig_publish_quota=2)
    answers = []
    for i in range(3):
        cid = create(http, base, user, token, image_url=image_url(emu), caption=f"n{i}").json()["id"]
        emu.advance(1)
        answers.append(http.post(f"{base}/{user}/media_publish", params={"creation_id": cid, "access_token": token}))
    assert [a.status_code for a in answers] == [200, 200, 400]
    assert (answers[2].json()["error"]["code"], answers[2].json()["error"]["error_subcode"]) == (9, 2207042)
    limit = http.get(f"{base}/{user}/content_publishing_limit", params={"fields": "quota_usage,config",
                                                                        "access_token": token}).json()
    assert limit == {"data": [{"quota_usage": 2, "config": {"quota_total": 2, "quota_duration": 86400}}]}
    emu.advance(DAY)
    cid = create(http, base, user, token, image_url=image_url(emu), caption="later").json()["id"]
    emu.advance(1)
    assert http.post(f"{base}/{user}/media_publish", params={"creation_id": cid, "access_token": token}).status_code \
        == 200


def test_insights_grow_with_the_clock_and_old_metrics_are_refused(ig, http):
    emu, base, user, token = ig
    cid = create(http, base, user, token, image_url=image_url(emu)).json()["id"]
    emu.advance(1)
    media_id = http.post(f"{base}/{user}/media_publish", params={"creation_id": cid, "access_token": token}).json()["id"]
    metrics = "views,reach,saved,likes,comments,shares,total_interactions"

    def read():
        data = http.get(f"{base}/{media_id}/insights", params={"metric": metrics, "access_token": token}).json()["data"]
        return {d["name"]: d["values"][0]["value"] for d in data}

    first = read()
    emu.advance(6 * 3600)
    middle = read()
    emu.advance(72 * 3600)
    late = read()
    assert all(first[k] <= middle[k] <= late[k] for k in first)
    assert late["views"] > middle["views"] > first["views"]
    assert late["reach"] > 0 and late["total_interactions"] >= late["likes"]
    for old in ("impressions", "plays", "video_views"):
        refused = http.get(f"{base}/{media_id}/insights", params={"metric": old, "access_token": token})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == 100
        assert "must be one of the following values" in refused.json()["error"]["message"]
    followers = http.get(f"{base}/{user}", params={"fields": "followers_count,media_count",
                                                   "access_token": token}).json()
    assert followers["followers_count"] > 0 and followers["media_count"] == 1


def test_unknown_objects_and_fields_are_graph_errors(ig, http):
    emu, base, user, token = ig
    nothing = http.get(f"{base}/123456", params={"access_token": token})
    assert nothing.status_code == 400 and nothing.json()["error"]["error_subcode"] == 33
    field = http.get(f"{base}/{user}", params={"fields": "shoe_size", "access_token": token})
    assert field.status_code == 400 and "nonexisting field (shoe_size)" in field.json()["error"]["message"]
    nobody = http.get(f"{base}/me", params={"access_token": "IGAAnot-a-token"})
    assert nobody.json()["error"]["code"] == 190


# ------------------------------------------------------------------ Facebook
@pytest.fixture
def fb(sandbox):
    creds = sandbox.accounts("facebook", handle="fb_page_owner")[0]
    return sandbox, sandbox.base_url("graph.facebook.com") + "/v25.0", creds


def test_page_post_duplicate_and_listing(fb, http):
    emu, base, creds = fb
    page, token = creds["page_id"], creds["page_access_token"]
    first = http.post(f"{base}/{page}/feed", json={"message": "Launch day", "link": "https://outpost.example",
                                                   "access_token": token})
    assert first.status_code == 200, first.text
    assert first.json()["id"].startswith(f"{page}_")
    dup = http.post(f"{base}/{page}/feed", data={"message": "Launch day", "link": "https://outpost.example",
                                                 "access_token": token})
    assert dup.status_code == 400 and dup.json()["error"]["code"] == 506
    as_user = http.post(f"{base}/{page}/feed", data={"message": "x", "access_token": creds["access_token"]})
    assert as_user.status_code == 403 and as_user.json()["error"]["code"] == 200
    feed = http.get(f"{base}/{page}/feed", params={"fields": "id,message,created_time", "access_token": token}).json()
    assert [p["message"] for p in feed["data"]] == ["Launch day"]
    assert emu.duplicates()["duplicates"][0]["attempts"] == 2


def test_page_photos_multi_photo_post_and_video(fb, http):
    emu, base, creds = fb
    page, token = creds["page_id"], creds["page_access_token"]
    photo = http.post(f"{base}/{page}/photos", data={"url": f"{emu.url}/_media/sample.jpg", "caption": "pic",
                                                     "access_token": token}).json()
    assert set(photo) == {"id", "post_id"}
    ids = [http.post(f"{base}/{page}/photos", data={"url": f"{emu.url}/_media/sample.png", "published": "false",
                                                    "access_token": token}).json()["id"] for _ in range(2)]
    multi = http.post(f"{base}/{page}/feed", json={"message": "two pics", "access_token": token,
                                                   "attached_media": [{"media_fbid": i} for i in ids]})
    assert multi.status_code == 200, multi.text
    bad = http.post(f"{base}/{page}/photos", data={"url": f"{emu.url}/_media/nothing.jpg", "access_token": token})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 324
    video = http.post(f"{base}/{page}/videos", data={"file_url": f"{emu.url}/_media/sample.mp4",
                                                     "description": "clip", "access_token": token}).json()
    assert set(video) == {"id"}
    assert [p["kind"] for p in emu.posts("facebook")] == ["photo", "photos", "video"]


def test_page_insights_current_and_deprecated_metrics(fb, http):
    emu, base, creds = fb
    page, token = creds["page_id"], creds["page_access_token"]
    post_id = http.post(f"{base}/{page}/feed", data={"message": "insightful", "access_token": token}).json()["id"]
    emu.advance(30 * 3600)
    data = http.get(f"{base}/{post_id}/insights", params={
        "metric": "post_total_media_view_unique,post_reactions_by_type_total,post_clicks",
        "access_token": token}).json()["data"]
    values = {d["name"]: d["values"][0]["value"] for d in data}
    assert values["post_total_media_view_unique"] > 0 and isinstance(values["post_reactions_by_type_total"], dict)
    old = http.get(f"{base}/{post_id}/insights", params={"metric": "post_impressions", "access_token": token})
    assert old.status_code == 400 and old.json()["error"]["code"] == 100
    page_old = http.get(f"{base}/{page}/insights", params={"metric": "page_fans", "access_token": token})
    assert page_old.status_code == 400
    page_new = http.get(f"{base}/{page}/insights", params={"metric": "page_total_media_view_unique,page_follows",
                                                           "period": "day", "access_token": token}).json()["data"]
    assert len(page_new) == 2 and len(page_new[0]["values"]) == 2
    followers = http.get(f"{base}/{page}", params={"fields": "followers_count,fan_count", "access_token": token}).json()
    assert followers["followers_count"] > 0
    video_id = http.post(f"{base}/{page}/videos", data={"file_url": f"{emu.url}/_media/sample.mp4",
                                                        "access_token": token}).json()["id"]
    no_edge = http.get(f"{base}/{video_id}/insights", params={"metric": "total_video_views", "access_token": token})
    assert no_edge.status_code == 400 and "nonexisting field (insights)" in no_edge.json()["error"]["message"]
    video = http.get(f"{base}/{video_id}/video_insights", params={"metric": "total_video_views",
                                                                  "access_token": token})
    assert video.status_code == 200 and video.json()["data"][0]["name"] == "total_video_views"


def test_instagram_through_facebook_login(fb, http):
    emu, base, creds = fb
    token, ig_user = creds["page_access_token"], creds["ig_user_id"]
    cid = http.post(f"{base}/{ig_user}/media", params={"image_url": f"{emu.url}/_media/sample.jpg",
                                                       "access_token": token}).json()["id"]
    emu.advance(1)
    done = http.post(f"{base}/{ig_user}/media_publish", params={"creation_id": cid, "access_token": token})
    assert done.status_code == 200, done.text
    assert emu.posts("instagram")[0]["account"] == ig_user


# ---------------------------------------------------------------- comments (issue 11: the first comment)

def _published_media(ig, http, caption="With a comment"):
    emu, base, user, token = ig
    emu.configure(ig_image_delay_s=0.0)
    cid = create(http, base, user, token, image_url=image_url(emu), caption=caption).json()["id"]
    return http.post(f"{base}/{user}/media_publish", data={"creation_id": cid, "access_token": token}).json()["id"]


def test_instagram_comments_are_made_every_time_they_are_sent_and_listed_after_the_lag(ig, http):
    emu, base, user, token = ig
    media = _published_media(ig, http)
    made = http.post(f"{base}/{media}/comments", data={"message": "First!", "access_token": token})
    assert made.status_code == 200 and set(made.json()) == {"id"}
    # Instagram does not refuse the same words twice: a client that sends again makes a second comment.
    again = http.post(f"{base}/{media}/comments", data={"message": "First!", "access_token": token})
    assert again.status_code == 200 and again.json()["id"] != made.json()["id"]
    listing = http.get(f"{base}/{media}/comments", params={"fields": "id,text,timestamp,from",
                                                           "access_token": token}).json()
    assert [c["text"] for c in listing["data"]] == ["First!", "First!"]
    assert listing["data"][0]["from"]["id"] == user
    emu.configure(listing_lag_s={"instagram": 60})
    http.post(f"{base}/{media}/comments", data={"message": "Late", "access_token": token})
    shown = http.get(f"{base}/{media}/comments", params={"fields": "text", "access_token": token}).json()["data"]
    assert [c["text"] for c in shown] == []                     # every comment is younger than the lag now
    emu.advance(61)
    shown = http.get(f"{base}/{media}/comments", params={"fields": "text", "access_token": token}).json()["data"]
    assert [c["text"] for c in shown] == ["Late", "First!", "First!"]


def test_instagram_comment_limits_and_permission(ig, http):
    emu, base, user, token = ig
    media = _published_media(ig, http)
    long = http.post(f"{base}/{media}/comments", data={"message": "c" * 2201, "access_token": token})
    assert long.status_code == 400 and "2200" in long.json()["error"]["message"]
    empty = http.post(f"{base}/{media}/comments", data={"message": " ", "access_token": token})
    assert empty.status_code == 400
    # An account connected without instagram_business_manage_comments: its own media, but no comment.
    narrow = emu.accounts("instagram", handle="ig_no_comments",
                          scopes=["instagram_business_basic", "instagram_business_content_publish"])[0]
    own = _published_media((emu, base, narrow["ig_user_id"], narrow["access_token"]), http)
    refused = http.post(f"{base}/{own}/comments", data={"message": "hi", "access_token": narrow["access_token"]})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 10
    assert emu.core.state.comments_on("instagram", own) == [] == emu.core.state.comments_on("instagram", media)


def test_instagram_comment_lost_after_it_was_made(ig, http):
    emu, base, user, token = ig
    media = _published_media(ig, http)
    emu.add_fault(kind="lost_response", platform="instagram", path="/comments", method="POST", count=1)
    with pytest.raises(Exception):
        http.post(f"{base}/{media}/comments", data={"message": "Lost", "access_token": token})
    assert [c.text for c in emu.core.state.comments_on("instagram", media)] == ["Lost"]


def test_page_post_comments_need_the_page_token_with_engagement(fb, http):
    emu, base, creds = fb
    page, token = creds["page_id"], creds["page_access_token"]
    post = http.post(f"{base}/{page}/feed", json={"message": "Hours this week", "access_token": token}).json()["id"]
    made = http.post(f"{base}/{post}/comments", data={"message": "Closed Monday", "access_token": token})
    assert made.status_code == 200, made.text
    as_user = http.post(f"{base}/{post}/comments", data={"message": "x", "access_token": creds["access_token"]})
    assert as_user.status_code == 403 and as_user.json()["error"]["code"] == 200
    listing = http.get(f"{base}/{post}/comments", params={"fields": "id,message,created_time,from",
                                                          "access_token": token}).json()
    [comment] = listing["data"]
    assert comment["message"] == "Closed Monday" and comment["from"]["id"] == page
    assert comment["id"] == made.json()["id"]
