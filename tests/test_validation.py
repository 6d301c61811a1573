"""core.rules.validation: every problem at once, in the platform's own counting, in plain words."""
from __future__ import annotations

import pytest

from core.domain import Account, Post, PostVariant
from core.domain.errors import ValidationError
from core.domain.catalog import Platform
from core.rules.limits import LIMITS
from core.rules.validation import TextCount, comment_count, count_text, ensure_valid, text_count, validate_content, validate_post

IG, FB, LI, X, TT, YT = (Platform.INSTAGRAM, Platform.FACEBOOK, Platform.LINKEDIN, Platform.X, Platform.TIKTOK,
                         Platform.YOUTUBE)
TH, BS, MA = Platform.THREADS, Platform.BLUESKY, Platform.MASTODON

FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466"  # one family emoji, 7 code points
PHOTO, VIDEO = "https://cdn.example.com/a.jpg", "https://cdn.example.com/clip.mp4"
# Media that satisfies each platform, so a test sees only the problem it is about.
FITTING_MEDIA = {IG: [PHOTO], TT: [VIDEO], YT: [VIDEO]}


def make_post(platform=X, *, caption="Hello", media_urls=None, **kw) -> Post:
    media = FITTING_MEDIA.get(Platform(platform), []) if media_urls is None else media_urls
    return Post(account=Account(platform=platform, handle="@a"), caption=caption, media_urls=media, **kw)


def codes(problems) -> list[str]:
    return [p.code for p in problems]


def messages(problems) -> list[str]:
    return [p.message for p in problems]


# ---------------------------------------------------------------- caption length, per platform

@pytest.mark.parametrize("platform, limit, message", [
    (IG, 2200, "Instagram allows 2,200 characters; this caption has 2,201."),
    (FB, 63_206, "Facebook Page allows 63,206 characters; this caption has 63,207."),
    (LI, 3000, "LinkedIn allows 3,000 characters; this caption has 3,001."),
    (X, 280, "X allows 280 characters; this caption counts as 281."),
    (TT, 2200, "TikTok allows 2,200 characters; this caption has 2,201."),
    (YT, 5000, "YouTube allows 5,000 bytes; this caption has 5,001."),
    (TH, 500, "Threads allows 500 characters; this caption has 501."),
    (BS, 300, "Bluesky allows 300 characters; this caption has 301."),
    (MA, 500, "Mastodon allows 500 characters; this caption has 501."),
])
def test_caption_at_the_limit_passes_and_one_over_fails(platform, limit, message):
    assert validate_post(make_post(platform, caption="a" * limit)) == []
    problems = validate_post(make_post(platform, caption="a" * (limit + 1)))
    assert messages(problems) == [message]
    assert (problems[0].code, problems[0].field, problems[0].platform) == ("caption_too_long", "caption",
                                                                          platform.value)


@pytest.mark.parametrize("platform, caption, message", [
    # Hashtags appended by render() count: the text sent is what is measured.
    (IG, "a" * 2194, "Instagram allows 2,200 characters; this caption has 2,201 once its hashtags are added."),
    # A YouTube description in bytes: each é is 2 bytes, "\n\n#sale" 7.
    (YT, "é" * 2497, "YouTube allows 5,000 bytes; this caption has 5,001 once its hashtags are added "
                     "(accented letters take 2 bytes and emoji 4)."),
])
def test_the_rendered_text_is_what_is_counted(platform, caption, message):
    problems = validate_post(make_post(platform, caption=caption, hashtags=("#sale",)))
    assert messages(problems) == [message]


def test_call_to_action_and_link_are_named_when_they_push_the_caption_over():
    post = make_post(LI, caption="a" * 2990, call_to_action="Sign up today", link="https://example.com")
    assert messages(validate_post(post)) == [
        "LinkedIn allows 3,000 characters; this caption has 3,026 once its call to action and link are added."]


# ---------------------------------------------------------------- X's weighted count

@pytest.mark.parametrize("text, expected", [
    ("https://example.com/" + "a" * 100, 23),   # any URL counts 23, however long
    ("https://a.co", 23),                       # ... however short
    ("你好", 4),                                 # CJK counts 2 each
    ("😀", 2),                                  # emoji count 2
    (FAMILY, 2),                                # an emoji sequence counts as one emoji
    ("e\u0301", 1),                             # NFC first: e + combining acute is é
    ("a" * 280, 280),                           # plain ASCII counts 1 each
    ("", 0),                                    # nothing
])
def test_x_weighted_counting(text, expected):
    assert count_text(text, "x_weighted") == expected


@pytest.mark.parametrize("caption, ok", [
    ("a" * 280, True),                                          # 280 ASCII fits
    ("a" * 281, False),                                         # 281 does not
    ("a" * 256 + " https://example.com/" + "x" * 200, True),    # 256 + 1 + 23 = 280, despite a 220-char URL
    ("你" * 140, True),                                          # 140 CJK = 280
    ("你" * 141, False),                                         # 141 CJK = 282
])
def test_x_limit_is_280_weighted(caption, ok):
    assert (validate_post(make_post(X, caption=caption)) == []) is ok


def test_x_over_by_emoji_explains_the_weighting():
    problems = validate_post(make_post(X, caption="😀" * 141))
    assert messages(problems) == ["X allows 280 characters; this caption counts as 282 (each link counts as 23, "
                                  "and each emoji or Chinese, Japanese or Korean character as 2)."]


# ---------------------------------------------------------------- other counting units

@pytest.mark.parametrize("text, expected", [
    (FAMILY, 1),                     # a ZWJ family emoji is one grapheme
    ("🇫🇷🇩🇪", 2),                   # two flags (regional-indicator pairs)
    ("🇫🇷🇩", 2),                     # a flag and a lone regional indicator
    ("👍🏽", 1),                      # emoji with a skin tone
    ("1\ufe0f\u20e3", 1),            # keycap one
    ("❤\ufe0f", 1),                  # heart with emoji presentation
    ("e\u0301a", 2),                 # combining accent joins its letter
    ("a\r\nb", 3),                   # CR LF is one
    ("abc", 3),                      # plain ASCII
])
def test_bluesky_grapheme_counting(text, expected):
    assert count_text(text, "graphemes") == expected


@pytest.mark.parametrize("text, counting, expected", [
    ("😀", "utf16", 2),               # TikTok runes: an astral emoji is a surrogate pair
    ("é", "utf16", 1),                # é is one rune
    ("é", "bytes", 2),                # ... and two UTF-8 bytes
    ("e\u0301", "bytes", 2),          # NFC before counting bytes
    ("😀", "bytes", 4),               # emoji are 4 bytes
    ("ab😀", "chars_emoji_bytes", 6),  # Threads: letters 1, the emoji its 4 bytes
    ("é", "chars", 1),                # plain code points
])
def test_other_counting_units(text, counting, expected):
    assert count_text(text, counting) == expected


def test_unknown_counting_is_a_programming_error():
    with pytest.raises(ValueError):
        count_text("a", "words")


def test_bluesky_family_emoji_counts_one_but_bytes_are_capped_too():
    # 300 family emoji are 300 graphemes (fits) but 7,500 bytes (over Bluesky's 3,000).
    assert messages(validate_post(make_post(BS, caption=FAMILY * 120))) == []
    problems = validate_post(make_post(BS, caption=FAMILY * 300))
    assert codes(problems) == ["caption_too_long"]
    assert problems[0].message == ("Bluesky allows 3,000 bytes of text; this caption has 7,500 "
                                   "(accented letters take 2 bytes and emoji 4).")


@pytest.mark.parametrize("platform, text, expected", [
    (X, "你好 https://example.com/long/path", TextCount(used=28, limit=280, unit="weighted characters")),
    (IG, "hello", TextCount(used=5, limit=2200, unit="characters")),
    (YT, "é", TextCount(used=2, limit=5000, unit="bytes")),
    (BS, FAMILY, TextCount(used=1, limit=300, unit="characters")),
    ("twitter", "a" * 300, TextCount(used=300, limit=280, unit="weighted characters")),  # slugs and old names
])
def test_text_count_for_the_composer(platform, text, expected):
    assert text_count(platform, text) == expected


@pytest.mark.parametrize("platforms, text, expected", [
    # Instagram alone: its 2,200, not the composer's 100,000 guard (a new user's finding)
    (["instagram"], "c" * 53, ("instagram", 53, 2200)),
    # the smallest of the chosen: LinkedIn's 1,250 under Instagram's 2,200 and Facebook's 8,000
    (["instagram", "facebook", "linkedin"], "hi", ("linkedin", 2, 1250)),
    # platforms that take no first comment do not count
    (["x", "instagram", "tiktok"], "", ("instagram", 0, 2200)),
    # counted as validate_post counts it: stripped
    (["facebook"], "  more below \n", ("facebook", 10, 8000)),
    # none of them takes one: no counter
    (["x", "bluesky"], "hi", None),
])
def test_the_first_comments_counter_is_the_tightest_chosen_platform(platforms, text, expected):
    found = comment_count(platforms, text)
    assert (found and (found[0].value, found[1].used, found[1].limit)) == expected


def test_the_first_comments_counter_goes_over_where_the_save_is_refused():
    text = "c" * 1251
    platform, count = comment_count(["instagram", "linkedin"], text)
    assert (platform, count.over, count.remaining) == (Platform.LINKEDIN, True, -1)
    post = Post(caption="Hi", accounts=(Account(platform="instagram", handle="@b"),
                                        Account(platform="linkedin", handle="b")),
                media_urls=("https://a.example/p.jpg",), first_comment=text)
    assert [(p.code, p.platform) for p in validate_post(post)] == [("first_comment_too_long", "linkedin")]
    assert not comment_count(["instagram", "linkedin"], "c" * 1250)[1].over


def test_text_count_remaining_and_over():
    assert (TextCount(281, 280, "weighted characters").remaining, TextCount(281, 280, "x").over) == (-1, True)
    assert (TextCount(200, 280, "weighted characters").remaining, TextCount(280, 280, "x").over) == (80, False)


# ---------------------------------------------------------------- hashtags and mentions

@pytest.mark.parametrize("hashtags, caption, count_ok", [
    (("a", "b", "c", "d", "e"), "Launch day", True),                          # 5 is the limit
    (("a", "b", "c", "d", "e", "f", "g", "h"), "Launch day", False),          # 8 in the hashtag list
    (("a", "b", "c"), "Launch #d #e #f", False),                              # 3 listed + 3 in the caption
    (("a", "b", "c", "d"), "See https://example.com/#top and #d", True),      # a URL fragment is not a tag
    (("a", "b", "c", "d", "e"), "We are #1", True),                           # "#1" is not a tag
])
def test_instagram_hashtag_limit(hashtags, caption, count_ok):
    problems = validate_post(make_post(IG, caption=caption, hashtags=hashtags))
    assert ("too_many_hashtags" not in codes(problems)) is count_ok


def test_too_many_hashtags_message():
    problems = validate_post(make_post(IG, hashtags=tuple("abcdefgh")))
    assert messages(problems) == ["Instagram allows 5 hashtags; this post has 8."]
    assert (problems[0].code, problems[0].field, problems[0].platform) == ("too_many_hashtags", "hashtags",
                                                                          "instagram")


def test_hashtags_are_not_limited_where_the_platform_does_not_limit_them():
    assert validate_post(make_post(LI, hashtags=tuple("abcdefghij"))) == []


def test_too_many_mentions_on_instagram():
    caption = " ".join(f"@user{i}" for i in range(21)) + " mail me at a@b.com"
    assert messages(validate_post(make_post(IG, caption=caption))) == [
        "Instagram allows 20 @mentions; this post has 21."]


# ---------------------------------------------------------------- media counts and kinds

def _images(n: int, ext: str = "jpg") -> list[str]:
    return [f"https://cdn.example.com/img{i}.{ext}" for i in range(1, n + 1)]


@pytest.mark.parametrize("platform, media, code, message", [
    (X, _images(5), "too_many_images", "X allows 4 images in one post; this post has 5."),
    (IG, _images(11), "too_many_images", "Instagram allows 10 images in one post; this post has 11."),
    (FB, _images(11), "too_many_images", "Facebook Page allows 10 images in one post; this post has 11."),
    (TT, _images(36), "too_many_images", "TikTok allows 35 images in one post; this post has 36."),
    (BS, _images(5), "too_many_images", "Bluesky allows 4 images in one post; this post has 5."),
    (LI, [VIDEO, VIDEO.replace("clip", "clip2")], "too_many_videos",
     "LinkedIn allows 1 video in one post; this post has 2."),
    # Instagram carousels mix kinds, but 10 items is still the most.
    (IG, _images(6) + [f"https://cdn.example.com/v{i}.mp4" for i in range(5)], "too_many_media",
     "Instagram allows 10 images or videos in one post; this post has 11."),
    (YT, [VIDEO, PHOTO], "too_many_images", "YouTube does not accept images; this post has 1 image."),
])
def test_too_many_media(platform, media, code, message):
    problems = validate_post(make_post(platform, media_urls=media))
    assert codes(problems) == [code]
    assert messages(problems) == [message]
    assert problems[0].field == "media"


@pytest.mark.parametrize("platform, media, ok", [
    (X, _images(4), True),                     # 4 images fit
    (X, [VIDEO], True),                        # 1 video fits
    (IG, _images(10), True),                   # a full carousel
    (IG, _images(3) + [VIDEO], True),          # Instagram carousels may mix photos and video
    (TT, _images(35), True),                   # a full photo post
    (LI, _images(20), True),                   # multiImage of 20
])
def test_media_that_fits(platform, media, ok):
    assert (validate_post(make_post(platform, media_urls=media)) == []) is ok


@pytest.mark.parametrize("platform, media, message", [
    # Instagram takes JPEG only.
    (IG, [PHOTO, "https://cdn.example.com/photo.png"],
     "Instagram accepts JPEG images only; image 2 (photo.png) is a PNG."
     " Upload the file instead of linking to it, and Outpost will convert it to JPEG for Instagram."),
    # TikTok photo posts refuse PNG.
    (TT, ["https://cdn.example.com/photo.png"], "TikTok accepts JPEG and WebP images only; image 1 (photo.png) is a PNG."
     " Upload the file instead of linking to it, and Outpost will convert it to JPEG for TikTok."),
    # The query string and the case of the extension do not hide the type.
    (IG, ["https://cdn.example.com/x/Photo%201.PNG?sig=abc"],
     "Instagram accepts JPEG images only; image 1 (Photo 1.PNG) is a PNG."
     " Upload the file instead of linking to it, and Outpost will convert it to JPEG for Instagram."),
    # LinkedIn videos are MP4 only.
    (LI, ["https://cdn.example.com/clip.webm"], "LinkedIn accepts MP4 videos only; video 1 (clip.webm) is a WebM."),
    # Facebook refuses a WebP photo.
    (FB, ["https://cdn.example.com/p.webp"], "Facebook Page accepts JPEG and PNG images only; image 1 (p.webp) is a WebP."
     " Upload the file instead of linking to it, and Outpost will convert it to JPEG for Facebook Page."),
])
def test_wrong_media_type(platform, media, message):
    problems = validate_post(make_post(platform, media_urls=media))
    assert messages(problems) == [message]
    assert (problems[0].code, problems[0].field, problems[0].platform) == ("media_type", "media", platform.value)


@pytest.mark.parametrize("platform, url", [
    (IG, "https://cdn.example.com/media/12345"),       # no extension: core.media checks the bytes later
    (IG, "https://cdn.example.com/photo.heic"),       # an extension we do not judge
    (YT, "https://cdn.example.com/upload?id=7"),      # might be the one video YouTube needs
])
def test_unknown_extensions_are_not_errors_here(platform, url):
    assert validate_post(make_post(platform, media_urls=[url])) == []


def test_tiktok_cannot_mix_photos_and_a_video():
    problems = validate_post(make_post(TT, media_urls=[PHOTO, VIDEO]))
    assert messages(problems) == ["TikTok cannot mix photos and a video in one post."]
    assert problems[0].code == "mixed_media"


@pytest.mark.parametrize("platform, media, code, message", [
    (YT, [], "video_required", "YouTube needs exactly one video."),          # nothing attached
    (YT, [PHOTO], "video_required", "YouTube needs exactly one video."),     # a photo is not a video
    (IG, [], "media_required", "Instagram needs at least one image or video."),
    (TT, [], "media_required", "TikTok needs at least one image or video."),
])
def test_platforms_that_need_media(platform, media, code, message):
    problems = validate_post(make_post(platform, media_urls=media))
    assert code in codes(problems)
    assert message in messages(problems)


# ---------------------------------------------------------------- titles and links

@pytest.mark.parametrize("platform, title, message", [
    (YT, "t" * 100, None),                                                          # at the limit
    (YT, "t" * 101, "YouTube allows 100 characters in a title; this title has 101."),
    (TT, "t" * 91, "TikTok allows 90 characters in a title; this title has 91."),
    (YT, "Ranking <3 places", "YouTube titles cannot contain <."),
    (X, "t" * 500, None),                                                           # X has no titles
])
def test_titles(platform, title, message):
    post = make_post(platform, variants={platform: PostVariant(title=title)})
    assert messages(validate_post(post)) == ([message] if message else [])


@pytest.mark.parametrize("link, message", [
    ("https://example.com/launch", None),                                            # fine
    ("http://example.com", None),                                                    # http is still a web address
    ("example", "The link 'example' is not a web address; it should start with https://"),
    ("ftp://example.com/f", "The link 'ftp://example.com/f' is not a web address; it should start with https://"),
    ("https://exa mple.com", "The link 'https://exa mple.com' is not a web address; "
                             "check it for spaces or typing mistakes."),
])
def test_links(link, message):
    problems = validate_post(make_post(LI, link=link))
    assert messages(problems) == ([message] if message else [])
    if message:
        assert (problems[0].code, problems[0].field) == ("bad_link", "link")


# ---------------------------------------------------------------- the post as a whole

def test_empty_post():
    problems = validate_post(make_post(LI, caption=""))
    assert messages(problems) == ["This post is empty: add a caption or at least one image or video."]
    assert (problems[0].code, problems[0].field) == ("empty_post", "caption")


def test_hashtags_alone_are_not_empty():
    assert validate_post(make_post(LI, caption="", hashtags=("launch",))) == []


def test_no_accounts():
    problems = validate_post(Post(caption="Hello"))
    assert messages(problems) == ["Choose at least one account to post to."]
    assert (problems[0].code, problems[0].field, problems[0].platform) == ("no_accounts", "accounts", None)


def test_no_accounts_and_empty_and_bad_link_are_all_reported():
    assert codes(validate_post(Post(link="example"))) == ["no_accounts", "bad_link"]
    assert codes(validate_post(Post())) == ["no_accounts", "empty_post"]


def test_every_problem_is_returned_at_once():
    post = make_post(IG, caption="a" * 2300, hashtags=tuple("abcdefgh"),
                     media_urls=["https://cdn.example.com/photo.png"])
    problems = validate_post(post)
    assert codes(problems) == ["caption_too_long", "too_many_hashtags", "media_type"]
    assert all(p.platform == "instagram" and p.severity == "error" for p in problems)


def test_every_platform_is_checked_and_problems_name_their_platform():
    post = Post(accounts=(Account(platform=X, handle="@a"), Account(platform=YT, handle="@chan")),
                caption="a" * 281)
    problems = validate_post(post)
    assert [(p.platform, p.code) for p in problems] == [("x", "caption_too_long"), ("youtube", "video_required")]


def test_two_accounts_on_one_platform_are_reported_once():
    post = Post(accounts=(Account(platform=X, handle="@a"), Account(platform=X, handle="@b")),
                caption="a" * 281, link="example")
    assert codes(validate_post(post)) == ["bad_link", "caption_too_long"]


def test_ensure_valid_raises_listing_every_problem():
    post = make_post(TT, caption="a" * 2201, media_urls=[PHOTO, VIDEO])
    with pytest.raises(ValidationError) as caught:
        ensure_valid(post)
    assert codes(caught.value.problems) == ["caption_too_long", "mixed_media"]
    assert "TikTok cannot mix photos and a video in one post." in str(caught.value)


def test_ensure_valid_passes_a_good_post():
    assert ensure_valid(make_post(X, caption="Ship it")) is None


# ---------------------------------------------------------------- variants

def test_the_x_variant_is_what_gets_validated_for_x():
    accounts = (Account(platform=X, handle="@a"), Account(platform=LI, handle="acme"))
    long_base = Post(accounts=accounts, caption="a" * 500, variants={X: PostVariant(caption="Short for X")})
    assert validate_post(long_base) == []
    long_variant = Post(accounts=accounts, caption="Fine everywhere",
                        variants={"x": PostVariant(caption="a" * 281)})
    assert [(p.platform, p.code) for p in validate_post(long_variant)] == [("x", "caption_too_long")]


def test_a_variant_can_empty_one_platform():
    accounts = (Account(platform=X, handle="@a"), Account(platform=LI, handle="acme"))
    post = Post(accounts=accounts, caption="Hello", variants={X: PostVariant(caption="")})
    problems = validate_post(post)
    assert messages(problems) == ["This post is empty on X: add a caption or at least one image or video."]
    assert problems[0].platform == "x"


def test_a_variant_link_is_checked_for_its_platform():
    accounts = (Account(platform=X, handle="@a"), Account(platform=LI, handle="acme"))
    post = Post(accounts=accounts, caption="Hello", link="https://example.com",
                variants={LI: PostVariant(link="example.com")})
    assert [(p.platform, p.code) for p in validate_post(post)] == [("linkedin", "bad_link")]


def test_validate_content_checks_one_rendering_against_one_declaration():
    content = make_post(X, caption="a" * 281, link="nope").render(X)
    assert codes(validate_content(content, LIMITS[X])) == ["bad_link", "caption_too_long"]


# ---------------------------------------------------------------- counting as the platforms count (issue 10)

@pytest.mark.parametrize("text, expected", [
    ("\u0915\u094d\u0937", 1),                   # Devanagari conjunct क्ष is one (Unicode 15.1 conjunct rule)
    ("\u0915\u094d\u0937\u093f", 1),             # ... and with its vowel sign क्षि still one
    ("\u0928\u092e\u0938\u094d\u0924\u0947", 3),  # नमस्ते: न, म, स्ते
    ("\u0e01\u0e33", 1),                         # Thai กำ: SARA AM is a spacing mark, it joins its consonant
    ("\u0e44\u0e17\u0e22", 3),                   # Thai ไทย: three
    ("\u1100\u1100\u1161", 1),                   # Hangul jamo L L V is one syllable
    ("\ua960\u1161", 1),                         # Hangul extended-A choseong + jungseong is one
    ("\u1100\u1161\u11a8\u11a8", 1),             # L V T T is one
    ("\u0600\u0661\u0662", 2),                   # Arabic number sign is a prepend character: ؀١ then ٢
    ("\u0d4e\u0d15", 1),                         # Malayalam dot reph prepends to the next letter
    ("\U0001F469\u200d\U0001F4BB", 1),           # woman technologist: one ZWJ sequence
    ("\U0001F3F3\ufe0f\u200d\U0001F308", 1),     # rainbow flag: one
    ("\U0001F44B\U0001F3FD\u200d", 1),           # a trailing ZWJ stays with its emoji
    ("\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", 1),  # Scotland's tag flag
])
def test_bluesky_counts_graphemes_with_a_real_segmenter(text, expected):
    assert count_text(text, "graphemes") == expected


def test_bluesky_refuses_301_conjuncts_and_accepts_300():
    ksha = "\u0915\u094d\u0937"              # 3 code points, 1 grapheme
    assert validate_post(make_post(BS, caption=ksha * 300)) == []
    assert messages(validate_post(make_post(BS, caption=ksha * 301))) == [
        "Bluesky allows 300 characters; this caption has 301."]


@pytest.mark.parametrize("char, name", [
    ("\ufffe", "U+FFFE"),                    # a noncharacter
    ("\uffff", "U+FFFF"),                    # a noncharacter
    ("\ufeff", "U+FEFF"),                    # a byte-order mark inside the text
])
def test_x_refuses_what_twitter_text_calls_invalid(char, name):
    problems = validate_post(make_post(X, caption=f"Launch{char} day"))
    assert codes(problems) == ["invalid_character"]
    assert problems[0].platform == "x" and problems[0].field == "caption"
    assert problems[0].message == (f"X refuses this caption: it contains an invisible character ({name}) that X "
                                   "calls invalid. Delete it (retyping the text around it usually does).")


def test_other_platforms_do_not_refuse_a_byte_order_mark():
    assert validate_post(make_post(LI, caption="Launch\ufeff day")) == []


@pytest.mark.parametrize("caption", [
    "\u200b",                                # zero-width space
    "\u200c\u200d",                          # zero-width non-joiner and joiner
    "\u2060 \u200b\n",                       # word joiner, with spaces and a newline
    "\ufeff",                                # a lone byte-order mark
])
def test_a_caption_of_zero_width_characters_is_empty(caption):
    problems = validate_post(make_post(LI, caption=caption))
    assert codes(problems) == ["empty_post"]


def test_zero_width_characters_inside_words_are_kept():
    assert validate_post(make_post(LI, caption="co\u200bop")) == []


@pytest.mark.parametrize("counting", ["chars", "x_weighted", "graphemes", "utf16", "bytes", "chars_emoji_bytes"])
def test_counting_a_lone_surrogate_does_not_crash_the_composer(counting):
    # The composer counts as the person types; the validation error comes from the text check, not from here.
    assert count_text("ab\ud800c", counting) >= 3
