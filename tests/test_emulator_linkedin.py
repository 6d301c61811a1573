"""LinkedIn on the emulator: versioned headers, uploads, 201 + x-restli-id, little-text truncation, analytics."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.conftest_emulator import bearer, emu, http, li_headers, sandbox  # noqa: F401

API = "api.linkedin.com"


@pytest.fixture
def li(sandbox):
    creds = sandbox.accounts("linkedin", handle="li_member")[0]
    return sandbox, sandbox.base_url(API), creds


def post_body(author, commentary, **extra):
    return {"author": author, "commentary": commentary, "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                             "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED", "isReshareDisabledByAuthor": False, **extra}


@pytest.mark.parametrize("headers, status, code", [
    ({"X-Restli-Protocol-Version": "2.0.0"}, 400, "VERSION_MISSING"),                 # no LinkedIn-Version
    ({"LinkedIn-Version": "202401", "X-Restli-Protocol-Version": "2.0.0"}, 426, "NONEXISTENT_VERSION"),  # sunset
    ({"LinkedIn-Version": "209912", "X-Restli-Protocol-Version": "2.0.0"}, 426, "NONEXISTENT_VERSION"),  # future
    ({"LinkedIn-Version": "CURRENT"}, 400, "ILLEGAL_ARGUMENT"),                        # no Rest.li 2.0.0 header
])
def test_rest_calls_require_the_version_headers(li, http, headers, status, code):
    emu, base, creds = li
    if headers.get("LinkedIn-Version") == "CURRENT":
        headers = {"LinkedIn-Version": emu.state.clock.dt().strftime("%Y%m")}
    answer = http.post(f"{base}/rest/posts", json=post_body(creds["person_urn"], "hi"),
                       headers={**bearer(creds["access_token"]), **headers})
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code and answer.json()["status"] == status
    if status == 426:
        assert answer.json()["message"].startswith("Requested version ") and "is not active" in answer.json()["message"]
    assert emu.posts("linkedin") == []


def test_a_version_ages_out_after_twelve_months(li, http):
    emu, base, creds = li
    now = emu.state.clock.dt()
    version = now.strftime("%Y%m")
    ok = http.get(f"{base}/rest/memberFollowersCount", params={"q": "me"},
                  headers={**li_headers(emu, creds["access_token"]), "LinkedIn-Version": version})
    assert ok.status_code == 200
    emu.advance(400 * 86400)                  # the version is checked before the (now expired) token
    old = http.get(f"{base}/rest/memberFollowersCount", params={"q": "me"},
                   headers={**bearer(creds["access_token"]), "LinkedIn-Version": version,
                            "X-Restli-Protocol-Version": "2.0.0"})
    assert old.status_code == 426 and old.json()["message"] == f"Requested version {version}01 is not active"


def test_text_post_is_201_with_an_empty_body_and_the_urn_in_a_header(li, http):
    emu, base, creds = li
    answer = http.post(f"{base}/rest/posts", json=post_body(creds["person_urn"], "Plain words only"),
                       headers=li_headers(emu, creds["access_token"]))
    assert answer.status_code == 201, answer.text
    assert answer.content == b""
    urn = answer.headers["x-restli-id"]
    assert urn.startswith("urn:li:share:")
    [post] = emu.posts("linkedin")
    assert (post["external_id"], post["text"], post["account"]) == (urn, "Plain words only", creds["person_urn"])
    reader = emu.accounts("linkedin", handle="li_member", scopes=["openid", "profile", "r_member_social"])[0]
    listed = http.get(f"{base}/rest/posts", params={"q": "author", "author": creds["person_urn"]},
                      headers=li_headers(emu, reader["access_token"])).json()
    assert [e["id"] for e in listed["elements"]] == [urn]


def test_listing_posts_by_author_needs_the_read_scope_for_that_author(li, http):
    emu, base, creds = li
    headers = li_headers(emu, creds["access_token"])     # w_member_social, w/r_organization_social, no r_member_social
    for author in (creds["person_urn"], creds["organization_urn"]):
        assert http.post(f"{base}/rest/posts", json=post_body(author, f"by {author[-3:]}"),
                         headers=headers).status_code == 201

    def find(author, token):
        return http.get(f"{base}/rest/posts", params={"q": "author", "author": author},
                        headers=li_headers(emu, token))

    member = find(creds["person_urn"], creds["access_token"])
    assert member.status_code == 403 and member.json()["code"] == "ACCESS_DENIED"     # r_member_social is restricted
    org = find(creds["organization_urn"], creds["access_token"])
    assert org.status_code == 200 and len(org.json()["elements"]) == 1
    writer = emu.accounts("linkedin", handle="li_member", scopes=["w_member_social", "w_organization_social"])[0]
    assert find(creds["organization_urn"], writer["access_token"]).status_code == 403   # writing is not reading
    partner = emu.accounts("linkedin", handle="li_member", scopes=["r_member_social"])[0]
    assert len(find(creds["person_urn"], partner["access_token"]).json()["elements"]) == 1
    assert find(creds["organization_urn"], partner["access_token"]).status_code == 403
    stranger = emu.accounts("linkedin", handle="li_other", scopes=["r_member_social"])[0]
    assert find(creds["person_urn"], stranger["access_token"]).status_code == 403    # only one's own posts


@pytest.mark.parametrize("commentary, stored", [
    ("Big news (finally) for everyone", "Big news "),                    # "(" unescaped: cut there, still 201
    ("Big news \\(finally\\) for everyone", "Big news (finally) for everyone"),   # escaped: kept whole
    ("Loving it #launch", "Loving it "),                                  # a bare hashtag is reserved too
    ("Hi @[Outpost](urn:li:organization:123) team", "Hi Outpost team"),   # the mention syntax is allowed
    ("Ship it {hashtag|\\#|launch}", "Ship it #launch"),                  # so is the hashtag template
    ("snake_case_name", "snake"),
])
def test_little_text_unescaped_reserved_characters_truncate_silently(li, http, commentary, stored):
    emu, base, creds = li
    answer = http.post(f"{base}/rest/posts", json=post_body(creds["person_urn"], commentary),
                       headers=li_headers(emu, creds["access_token"]))
    assert answer.status_code == 201
    [post] = emu.posts("linkedin")
    assert post["text"] == stored
    assert post["extra"]["raw_commentary"] == commentary


def test_image_upload_then_post(li, http):
    emu, base, creds = li
    headers = li_headers(emu, creds["access_token"])
    init = http.post(f"{base}/rest/images", params={"action": "initializeUpload"},
                     json={"initializeUploadRequest": {"owner": creds["person_urn"]}}, headers=headers)
    assert init.status_code == 200, init.text
    value = init.json()["value"]
    assert value["image"].startswith("urn:li:image:") and "/www.linkedin.com/dms-uploads/" in value["uploadUrl"]
    early = http.post(f"{base}/rest/posts", json=post_body(creds["person_urn"], "pic", content={
        "media": {"id": value["image"], "title": "t"}}), headers=headers)
    assert early.status_code == 422                                  # not uploaded yet
    image = http.get(f"{emu.url}/_media/sample.jpg").content
    put = http.put(value["uploadUrl"], content=image, headers=bearer(creds["access_token"]))
    assert put.status_code == 201
    check = http.get(f"{base}/rest/images/{value['image']}", headers=headers).json()
    assert check["status"] == "AVAILABLE"
    posted = http.post(f"{base}/rest/posts", json=post_body(creds["person_urn"], "pic", content={
        "media": {"id": value["image"], "title": "t", "altText": "a"}}), headers=headers)
    assert posted.status_code == 201
    assert emu.posts("linkedin")[0]["media"] == [value["image"]]


def test_video_upload_needs_the_etags_in_order(li, http):
    emu, base, creds = li
    headers = li_headers(emu, creds["access_token"])
    sample = http.get(f"{emu.url}/_media/sample.mp4").content
    blob = sample + bytes(5 * 1024 * 1024 - len(sample))             # 5 MiB: two parts of at most 4 MiB
    init = http.post(f"{base}/rest/videos", params={"action": "initializeUpload"}, headers=headers, json={
        "initializeUploadRequest": {"owner": creds["person_urn"], "fileSizeBytes": len(blob),
                                    "uploadCaptions": False, "uploadThumbnail": False}}).json()["value"]
    parts = init["uploadInstructions"]
    assert len(parts) == 2 and parts[1]["lastByte"] == len(blob) - 1
    etags = []
    for part in parts:
        answer = http.put(part["uploadUrl"], content=blob[part["firstByte"]:part["lastByte"] + 1],
                          headers=bearer(creds["access_token"]))
        assert answer.status_code == 200
        etags.append(answer.headers["etag"])
    finalize = {"finalizeUploadRequest": {"video": init["video"], "uploadToken": init["uploadToken"]}}
    finalize["finalizeUploadRequest"]["uploadedPartIds"] = list(reversed(etags))
    wrong = http.post(f"{base}/rest/videos", params={"action": "finalizeUpload"}, json=finalize, headers=headers)
    assert wrong.status_code == 400
    finalize["finalizeUploadRequest"]["uploadedPartIds"] = etags
    right = http.post(f"{base}/rest/videos", params={"action": "finalizeUpload"}, json=finalize, headers=headers)
    assert right.status_code == 200
    assert http.get(f"{base}/rest/videos/{init['video']}", headers=headers).json()["status"] == "PROCESSING"
    emu.advance(2)
    assert http.get(f"{base}/rest/videos/{init['video']}", headers=headers).json()["status"] == "AVAILABLE"


def test_organization_posts_and_statistics(li, http):
    emu, base, creds = li
    headers = li_headers(emu, creds["access_token"])
    org = creds["organization_urn"]
    acls = http.get(f"{base}/rest/organizationAcls", params={"q": "roleAssignee"}, headers=headers).json()
    assert acls["elements"][0]["organization"] == org
    urn = http.post(f"{base}/rest/posts", json=post_body(org, "From the company"), headers=headers).headers["x-restli-id"]
    emu.advance(48 * 3600)
    stats = http.get(f"{base}/rest/organizationalEntityShareStatistics", headers=headers, params={
        "q": "organizationalEntity", "organizationalEntity": org, "shares": f"List({urn})"}).json()
    total = stats["elements"][0]["totalShareStatistics"]
    assert stats["elements"][0]["share"] == urn and total["impressionCount"] > 0 and 0 < total["engagement"] < 1
    size = http.get(f"{base}/rest/networkSizes/{org}", params={"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"},
                    headers=headers).json()
    assert size["firstDegreeSize"] > 0


def test_member_post_analytics_grow(li, http):
    emu, base, creds = li
    headers = li_headers(emu, creds["access_token"])
    urn = http.post(f"{base}/rest/posts", json=post_body(creds["person_urn"], "measure me"),
                    headers=headers).headers["x-restli-id"]

    def impressions():
        return http.get(f"{base}/rest/memberCreatorPostAnalytics", headers=headers, params={
            "q": "entity", "entity": f"(share:{urn})", "queryType": "IMPRESSION",
            "aggregation": "TOTAL"}).json()["elements"][0]["count"]

    emu.advance(3600)
    early = impressions()
    emu.advance(48 * 3600)
    assert impressions() > early
    daily = http.get(f"{base}/rest/memberCreatorPostAnalytics", headers=headers, params={
        "q": "entity", "entity": f"(share:{urn})", "queryType": "MEMBERS_REACHED", "aggregation": "DAILY"})
    assert daily.status_code == 400                                   # MEMBERS_REACHED has no DAILY
    followers = http.get(f"{base}/rest/memberFollowersCount", params={"q": "me"}, headers=headers).json()
    assert followers["elements"][0]["memberFollowersCount"] > 0


def test_daily_member_cap_is_429_without_retry_after_until_midnight_utc(li, http):
    emu, base, creds = li
    emu.configure(li_member_daily_posts=2, li_reject_duplicates=False)
    headers = li_headers(emu, creds["access_token"])
    codes = [http.post(f"{base}/rest/posts", json=post_body(creds["person_urn"], f"post {i}"),
                       headers=headers).status_code for i in range(3)]
    assert codes == [201, 201, 429]
    refused = http.post(f"{base}/rest/posts", json=post_body(creds["person_urn"], "again"), headers=headers)
    assert "retry-after" not in refused.headers
    now = emu.state.clock.dt()
    midnight = datetime(now.year, now.month, now.day, tzinfo=timezone.utc).timestamp() + 86400
    emu.advance(midnight - emu.now() + 1)
    assert http.post(f"{base}/rest/posts", json=post_body(creds["person_urn"], "new day"),
                     headers=li_headers(emu, creds["access_token"])).status_code == 201


def test_duplicate_content_is_422(li, http):
    emu, base, creds = li
    headers = li_headers(emu, creds["access_token"])
    assert http.post(f"{base}/rest/posts", json=post_body(creds["person_urn"], "same"), headers=headers).status_code \
        == 201
    dup = http.post(f"{base}/rest/posts", json=post_body(creds["person_urn"], "same"), headers=headers)
    assert dup.status_code == 422 and dup.json()["message"].startswith("Content is a duplicate of urn:li:share:")


def test_auth_errors(li, http):
    emu, base, creds = li
    missing = http.get(f"{base}/v2/userinfo")
    assert missing.status_code == 401 and missing.json()["message"] == "Empty oauth2_access_token"
    wrong = http.get(f"{base}/v2/userinfo", headers=bearer("AQVnope"))
    assert wrong.json()["serviceErrorCode"] == 65600
    other = http.post(f"{base}/rest/posts", json=post_body("urn:li:person:someoneElse", "hi"),
                      headers=li_headers(emu, creds["access_token"]))
    assert other.status_code == 403 and other.json()["code"] == "ACCESS_DENIED"


def test_comments_under_a_post_as_the_member_and_reading_them_back_needs_the_read_scope(li, http):
    """socialActions/{urn}/comments (issue 11): 201 with the comment's URN in x-restli-id; the write scopes make
    comments, reading them back needs r_member_social (restricted) for a member's post; no duplicate check."""
    from urllib.parse import quote
    emu, base, creds = li
    headers = li_headers(emu, creds["access_token"])
    urn = http.post(f"{base}/rest/posts", json=post_body(creds["person_urn"], "Hiring"),
                    headers=headers).headers["x-restli-id"]
    path = f"{base}/rest/socialActions/{quote(urn, safe='')}/comments"
    body = {"actor": creds["person_urn"], "object": urn, "message": {"text": "Apply (link below)"}}
    made = http.post(path, json=body, headers=headers)
    assert made.status_code == 201, made.text
    assert made.headers["x-restli-id"].startswith(f"urn:li:comment:({urn},")
    assert http.post(path, json=body, headers=headers).status_code == 201          # sent twice: two comments
    assert http.post(path, json={**body, "message": {"text": "c" * 1251}}, headers=headers).status_code == 422
    as_other = http.post(path, json={**body, "actor": "urn:li:person:someone"}, headers=headers)
    assert as_other.status_code == 403
    assert http.get(path, headers=headers).status_code == 403                        # writing is not reading
    reader = emu.accounts("linkedin", handle="li_member", scopes=["r_member_social"])[0]
    listed = http.get(path, headers=li_headers(emu, reader["access_token"])).json()
    assert [c["message"]["text"] for c in listed["elements"]] == ["Apply (link below)"] * 2
    assert all(c["actor"] == creds["person_urn"] for c in listed["elements"])
    missing = http.post(f"{base}/rest/socialActions/{quote('urn:li:share:1', safe='')}/comments", json=body,
                        headers=headers)
    assert missing.status_code == 404
