"""core.rules.previews: where each feed cuts the caption, how it frames media, link cards and X threads."""
from __future__ import annotations

import pytest

from core.domain import Account, Post, PostVariant
from core.domain.catalog import Platform
from core.domain.errors import ValidationError
from core.rules.limits import AspectRange
from core.rules.previews import FEED, crop_box, cut_text, preview, shown_ratio, split_thread, x_thread
from core.rules.validation import count_text


def _account(platform: str, handle: str = "@brand", name: str = "Brand Studio") -> Account:
    return Account(platform=platform, handle=handle, display_name=name)


WORDS = " ".join(f"word{i:02d}" for i in range(60))     # 60 words of 6 characters, 419 characters


@pytest.mark.parametrize("platform, shown_chars, more", [
    ("instagram", 125, "… more"),     # two lines or ~125 characters
    ("linkedin", 210, "…see more"),   # about three lines on a phone
    ("facebook", 419, ""),            # 480 characters: this text fits whole
    ("tiktok", 100, "… more"),
    ("threads", 419, ""),             # Threads shows its 500 whole
    ("bluesky", 419, ""),
])
def test_each_feed_cuts_the_caption_where_the_platform_does(platform, shown_chars, more):
    view = preview(Post(caption=WORDS), _account(platform))
    # cut at the last space at or before the limit: every word shown is whole
    assert len(view.shown) <= shown_chars and WORDS.startswith(view.shown)
    assert view.shown.split(" ")[-1] in WORDS.split(" ")
    assert view.more == more and view.truncated == bool(more)
    if more:
        assert len(view.shown) > shown_chars - 8    # no earlier than the word that crosses the limit
    assert view.text == WORDS


def test_instagram_cuts_at_two_lines_before_the_character_limit():
    caption = "Line one\nLine two\nLine three"
    view = preview(Post(caption=caption), _account("instagram"))
    assert view.shown == "Line one\nLine two" and view.more == "… more"


@pytest.mark.parametrize("text, chars, lines, shown, cut", [
    ("short", 10, 2, "short", False),               # fits
    ("hello world again", 11, None, "hello world", True),   # cut at the space before 11
    ("abcdefghijkl", 5, None, "abcde", True),       # one long word: cut inside it
    ("a\nb\nc", None, 2, "a\nb", True),             # lines first
    ("text", None, None, "text", False),            # the platform never cuts
])
def test_cut_text(text, chars, lines, shown, cut):
    assert cut_text(text, chars, lines) == (shown, cut)


def test_the_preview_carries_name_handle_and_the_whole_rendered_text():
    post = Post(caption="Spring is here", hashtags="#spring #launch", call_to_action="Shop now")
    x = preview(post, _account("x", "@brand"))
    assert (x.name, x.handle) == ("Brand Studio", "@brand")
    assert x.text == "Spring is here\n\nShop now\n\n#spring #launch" and x.thread == ()
    linkedin = preview(post, _account("linkedin", "brand-studio"))
    assert linkedin.handle == ""                    # LinkedIn shows the name only


# ---------------------------------------------------------------- X threads

LONG = ("Big news today. We are launching our new spring collection with twelve pieces made from recycled "
        "cotton! Every piece is designed in Berlin and sewn by a family workshop in Porto. Come see it at our "
        "pop-up store this weekend, where the first fifty visitors get a free tote bag. Tell your friends and "
        "bring them along? We will also have coffee.")


def test_a_text_that_fits_is_one_post_without_a_number():
    assert split_thread("Hello there. Short one.") == ["Hello there. Short one."]
    assert split_thread("   ") == []


def test_a_long_text_splits_between_sentences_into_numbered_posts_within_the_limit():
    posts = split_thread(LONG)
    assert posts == [
        "Big news today. We are launching our new spring collection with twelve pieces made from recycled cotton! "
        "Every piece is designed in Berlin and sewn by a family workshop in Porto. Come see it at our pop-up store "
        "this weekend, where the first fifty visitors get a free tote bag. 1/2",
        "Tell your friends and bring them along? We will also have coffee. 2/2",
    ]
    assert all(count_text(p, "x_weighted") <= 280 for p in posts)


def test_the_limit_is_x_weighted_links_count_23_and_emoji_2():
    sentence = "🎉" * 60 + " party."              # 60 emoji weigh 120
    posts = split_thread(" ".join([sentence] * 3))
    assert len(posts) == 2 and all(count_text(p, "x_weighted") <= 280 for p in posts)
    linked = ("See https://example.com/" + "a" * 300 + " now. ") * 12   # each link weighs 23 whatever its length
    posts = split_thread(linked)
    assert all(count_text(p, "x_weighted") <= 280 for p in posts)
    assert posts[0].count("https://") == 8                              # 8 sentences of 33 fit in 274


def test_a_sentence_longer_than_a_post_splits_at_spaces_and_a_word_longer_than_a_post_by_characters():
    sentence = " ".join(["lorem"] * 120) + "."
    posts = split_thread(sentence)
    assert all(count_text(p, "x_weighted") <= 280 for p in posts)
    assert all(" lorem" in p or p.startswith("lorem") for p in posts)
    assert [p.rsplit(" ", 1)[1] for p in posts] == [f"{i}/{len(posts)}" for i in range(1, len(posts) + 1)]
    word = split_thread("x" * 700)
    assert len(word) == 3 and all(count_text(p, "x_weighted") <= 280 for p in word)
    assert "".join(p.rsplit(" ", 1)[0] for p in word) == "x" * 700


def test_ten_or_more_posts_reserve_room_for_two_digit_numbers():
    text = " ".join(f"This is sentence number {i} of a very long story that keeps going and going." for i in range(40))
    posts = split_thread(text)
    assert len(posts) >= 10 and posts[-1].endswith(f" {len(posts)}/{len(posts)}")
    assert all(count_text(p, "x_weighted") <= 280 for p in posts)
    # no sentence is cut: every post ends at a full stop before its number
    assert all(p.rsplit(" ", 1)[0].endswith(".") for p in posts)


def test_x_preview_shows_the_thread_when_the_text_is_over_the_limit():
    view = preview(Post(caption=LONG), _account("x"))
    assert len(view.thread) == 2 and view.thread[1].endswith("2/2") and view.more == ""
    assert preview(Post(caption="Short."), _account("x")).thread == ()
    assert preview(Post(caption=LONG), _account("linkedin")).thread == ()   # LinkedIn does not thread
    assert view.threaded is False                                           # a suggestion, not what goes out


def test_a_thread_the_person_wrote_is_what_the_preview_shows():
    post = Post(caption=LONG, variants={Platform.X: PostVariant(thread=("Mine 1/2", "Also mine 2/2"))})
    view = preview(post, _account("x"))
    assert view.threaded and view.thread == ("Mine 1/2", "Also mine 2/2") and view.shown == "Mine 1/2"


def test_a_mastodon_text_over_its_500_is_shown_as_the_thread_it_would_need():
    text = " ".join(f"Sentence {i} of a story told on the fediverse, one step at a time." for i in range(12))
    view = preview(Post(caption=text), _account("mastodon"))
    assert len(view.thread) == 2 and all(len(p) <= 500 for p in view.thread) and not view.threaded
    assert split_thread(text, 500, counting="chars") == list(view.thread)


def test_the_preview_carries_the_first_comment_where_it_will_be_posted():
    post = Post(caption="New menu", first_comment="Full menu: link in bio")
    assert preview(post, _account("instagram")).first_comment == "Full menu: link in bio"
    assert preview(post, _account("x")).first_comment == ""                 # X takes no first comment


# ---------------------------------------------------------------- media and links

@pytest.mark.parametrize("platform, size, ratio, cropped", [
    ("instagram", (1080, 1350), 0.8, False),        # 4:5 portrait shows whole
    ("instagram", (1080, 1920), 0.8, True),         # 9:16 is cropped to 4:5
    ("instagram", (3000, 1000), 1.91, True),        # 3:1 panorama cropped to 1.91:1
    ("x", (1080, 1920), 0.75, True),                # X's timeline: tallest 3:4
    ("x", (1920, 1080), 16 / 9, False),
    ("linkedin", (1000, 1000), 1.0, False),
    ("tiktok", (1080, 1080), 9 / 16, True),         # TikTok fills the screen: 9:16
    ("instagram", (None, None), 1.0, False),        # size unknown: the usual square frame
])
def test_media_is_framed_to_the_shape_the_platform_shows(platform, size, ratio, cropped):
    view = preview(Post(caption="Look", media_urls=["https://cdn.example.com/a.jpg"]), _account(platform),
                   media_sizes={"https://cdn.example.com/a.jpg": size})
    [frame] = view.media
    assert frame.ratio == pytest.approx(ratio) and frame.cropped == cropped


def test_shown_ratio_and_the_crop_box():
    assert shown_ratio(1000, 2000, AspectRange(0.8, 1.91)) == (0.8, True)
    assert crop_box(1080, 1920, 0.8) == (0, 285, 1080, 1635)      # top and bottom go, centred
    assert crop_box(3000, 1000, 1.91) == (545, 0, 2455, 1000)     # the sides go
    assert crop_box(1000, 1000, 1.0) == (0, 0, 1000, 1000)


def test_a_link_becomes_a_card_where_the_platform_makes_one_and_there_is_no_media():
    post = Post(caption="Read the story", link="https://www.example.com/spring?utm=1")
    card = preview(post, _account("linkedin")).card
    assert card is not None and card.site == "example.com" and card.url == "https://www.example.com/spring?utm=1"
    assert preview(post, _account("instagram")).card is None       # Instagram captions make no link cards
    with_media = Post(caption="Read", link="https://example.com", media_urls=["https://cdn.example.com/a.jpg"])
    assert preview(with_media, _account("x")).card is None          # the photo is shown instead


def test_every_platform_declares_its_feed():
    assert set(FEED) == set(Platform)


def test_the_preview_keeps_the_persons_text_as_written_for_the_page_to_escape():
    post = Post(caption="<script>alert(1)</script> & <b>bold</b>")
    view = preview(post, _account("x", "@a<b>"))
    assert view.text == "<script>alert(1)</script> & <b>bold</b>"   # raw here: escaping is the renderer's job
    assert view.handle == "@a<b>"


def test_the_dashboards_preview_card_escapes_everything_the_person_typed():
    from pages.preview_card import preview_html
    post = Post(caption='<img src=x onerror="alert(1)"> & more', link="https://example.com/?a=<b>",
                media_urls=['https://cdn.example.com/a.jpg" onload="alert(2)'])
    html = preview_html(preview(post, _account("linkedin", "brand", name="<i>Brand</i>")))
    assert "<img src=x" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; more" in html
    assert "<i>Brand</i>" not in html and "&lt;i&gt;Brand&lt;/i&gt;" in html
    assert 'onload="alert(2)' not in html and "a.jpg&quot; onload=&quot;alert(2)" in html


@pytest.mark.parametrize("platform, size, refused", [
    ("instagram", (1080, 1920), True),     # Instagram's API takes photos from 4:5 to 1.91:1 only
    ("instagram", (1080, 1350), False),
    ("x", (1080, 1920), False),            # X takes it and crops it in the timeline
    ("instagram", (None, None), False),    # unknown size: judged when the file is fetched
])
def test_a_photo_the_platform_refuses_is_marked_not_only_cropped(platform, size, refused):
    url = "https://cdn.example.com/a.jpg"
    [frame] = preview(Post(caption="Look", media_urls=[url]), _account(platform), media_sizes={url: size}).media
    assert frame.refused == refused


# ---------------------------------------------------------------- long texts, hashtags, the "… more" cut

def test_trailing_hashtags_join_the_post_before_when_they_fit():
    text = ("Our spring collection is here. Twelve pieces in recycled cotton. Made in Porto by a family workshop."
            "\n\n#launch #spring #handmade")
    assert split_thread(text, 70, counting="chars") == [
        "Our spring collection is here. Twelve pieces in recycled cotton. 1/2",
        "Made in Porto by a family workshop. #launch #spring #handmade 2/2",
    ]


def test_trailing_hashtags_that_do_not_fit_take_the_last_sentence_with_them_never_a_post_alone():
    text = "Our spring collection is here. Made in Porto.\n\n#launch #spring #handmade"
    # both sentences fill post 1 and the hashtags do not fit beside them: the last sentence goes with them
    assert split_thread(text, 60, counting="chars") == [
        "Our spring collection is here. 1/2", "Made in Porto. #launch #spring #handmade 2/2"]
    # one sentence per post and none fits beside the tags: the end of the last sentence goes with them
    assert split_thread("One two three four five six. Seven eight nine ten eleven.\n\n#launch #spring #handmade",
                        45, counting="chars") == [
        "One two three four five six. 1/3", "Seven eight nine 2/3", "ten eleven. #launch #spring #handmade 3/3"]


def test_the_feed_cut_drops_the_punctuation_it_ends_on_before_the_platforms_ellipsis():
    caption = ("We ship our handmade spring collection from a small family workshop in Porto to customers "
               "worldwide. Orders open on Monday.")
    shown = ("We ship our handmade spring collection from a small family workshop in Porto to customers "
             "worldwide")                                                # "…worldwide… more", not "worldwide.… more"
    assert cut_text(caption, 101, None) == (shown, True)
    assert cut_text("Wow! Big news today", 5, None) == ("Wow", True)
    assert cut_text("Hi there, friend", 9, None) == ("Hi there", True)
    assert cut_text("All done.", 20, None) == ("All done.", False)        # nothing cut: the text as written
    view = preview(Post(caption=caption), _account("tiktok"))           # TikTok cuts at about 100
    assert view.shown == shown and view.more == "… more"


def _thirty_thousand() -> str:
    sentences = [f"Sentence {i} tells one more part of a very long story about our workshop." for i in range(420)]
    return " ".join(sentences)[:30000]


def test_a_thread_longer_than_the_platform_takes_previews_its_first_posts_and_how_many_more():
    text = _thirty_thousand()
    whole = split_thread(text)
    assert len(whole) > 100
    view = preview(Post(caption=text), _account("x"))
    assert view.thread[:3] == tuple(whole[:3]) and len(view.thread) == 4
    assert view.thread_more == len(whole) - 3
    assert view.thread[3] == (f"… and {len(whole) - 3:,} more posts ({len(whole):,} in all): too long for a thread, "
                              "X takes at most 25. Shorten the text.")
    fits = " ".join(["A sentence that is long enough to fill some of a post on X today."] * 40)
    assert len(preview(Post(caption=fits), _account("x")).thread) == len(split_thread(fits)) <= 25
    assert preview(Post(caption=fits), _account("x")).thread_more == 0


def test_an_x_thread_is_split_as_previewed_or_refused_in_words_when_x_would_not_take_it():
    fits = " ".join(["A sentence that is long enough to fill some of a post on X today."] * 40)
    assert x_thread(fits) == split_thread(fits) and 1 < len(x_thread(fits)) <= 25
    assert x_thread("Short.") == ["Short."] and x_thread("  ") == []
    with pytest.raises(ValidationError) as refused:
        x_thread(_thirty_thousand())
    [problem] = refused.value.problems
    assert (problem.code, problem.field) == ("thread_too_long", "thread")
    assert problem.message == (f"This text would be {len(split_thread(_thirty_thousand()))} posts on X, which takes "
                               "at most 25 in a thread. Shorten it first.")


@pytest.mark.parametrize("counting, limit", [("x_weighted", 280), ("graphemes", 300), ("chars_emoji_bytes", 500)])
@pytest.mark.parametrize("kind", ["sentences", "one word", "no full stops", "japanese", "emoji"])
def test_splitting_a_long_text_counts_each_part_a_few_times_not_once_per_candidate(monkeypatch, counting, limit,
                                                                                   kind):
    # Near-linear: the characters counted stay a small multiple of the text (the old split recounted the growing
    # post for every word and took ~27 s in the composer on a 30,000-character text).
    text = {"sentences": _thirty_thousand(), "one word": "x" * 30000,
            "no full stops": " ".join(["handmade spring launch"] * 1300)[:30000],
            "japanese": "日本語のテキストです。" * 2700, "emoji": "party 🎉🎉 time " * 2000}[kind]
    import core.rules.previews as previews
    counted = []
    real = previews.count_text
    monkeypatch.setattr(previews, "count_text", lambda part, unit: counted.append(len(part)) or real(part, unit))
    posts = split_thread(text, limit, counting=counting)
    assert sum(counted) < 16 * len(text)
    assert all(count_text(p, counting) <= limit for p in posts)
    assert "".join(p.rsplit(" ", 1)[0].replace(" ", "") for p in posts) == text.replace(" ", "")


@pytest.mark.parametrize("text", [
    "", "plain words", "a\r\nb\rc", "日本語 and English", "😷 👨\u200d🎤 🙋🏽 🇫🇷 1\ufe0f\u20e3 #\u20e3 © ™",
    "see https://example.com/a?b=1 and example.co.uk, www.acme.io/x", "http://twitter.com/これは日本語です。example.com中国語",
    "e\u0301 \u3030 \u303d — ‘quoted’ … 한국어 \u3000 x.com😷example.com", "🎉" * 200 + " https://t.co/abc 🎉",
    "éfoo.bar at the start, then\néfoo.bar\t-a.com _b.com /c.com @bob.com $AAPL.com пример.рф (see.com)",
])
def test_the_fast_x_count_is_exactly_twitter_texts(text):
    import unicodedata
    from twitter_text import parse_tweet
    expected = parse_tweet(unicodedata.normalize("NFC", text)).weightedLength if text else 0
    assert count_text(text, "x_weighted") == expected


# ---------------------------------------------------------------- the dashboard's card (pages/preview_card.py)

@pytest.mark.parametrize("platform, size, words", [
    ("instagram", (1080, 1920), "Instagram does not take a photo this tall: use one from 4:5 to 1.91:1."),
    ("instagram", (2000, 500), "Instagram does not take a photo this wide: use one from 4:5 to 1.91:1."),
])
def test_the_card_says_on_its_own_why_a_photo_is_refused(platform, size, words):
    # The card also stands alone (Approvals, the post dialog): it names the shapes taken, not "see below".
    from pages.preview_card import preview_html
    url = "https://cdn.example.com/a.jpg"
    html = preview_html(preview(Post(caption="Look", media_urls=[url]), _account(platform), media_sizes={url: size}))
    assert words in html and "see below" not in html


def test_on_a_narrow_card_the_avatar_stays_round_and_the_platform_badge_whole(page):
    # A long name beside them in a narrow column (cards side by side) squeezed the avatar to a sliver.
    from pages.preview_card import preview_html
    name = "Brand Studio International Workshop and Store Berlin"
    view = preview(Post(caption="Hello"), _account("linkedin", "@brand", name=name))
    page.set_content(f'<div style="width:220px">{preview_html(view)}</div>')
    sizes = page.evaluate("""() => {
        const leaf = text => [...document.querySelectorAll('div')]
            .find(d => d.textContent === text && d.children.length === 0);
        const size = d => ({w: d.getBoundingClientRect().width, h: d.getBoundingClientRect().height,
                            scroll: d.scrollWidth, client: d.clientWidth});
        return {avatar: size(leaf('B')), badge: size(leaf('LinkedIn')), card: size(document.body.firstChild)};
    }""")
    assert (round(sizes["avatar"]["w"]), round(sizes["avatar"]["h"])) == (36, 36)
    assert sizes["badge"]["scroll"] <= sizes["badge"]["client"]      # the badge's word is not cut
    assert sizes["card"]["w"] <= 220                                   # the long name did not widen the card
    assert page.get_attribute(f'div[title="{name}"]', "title") == name   # the whole name on hover


def test_instagram_cards_show_the_photo_above_the_caption_and_x_cards_below():
    """As each feed does: Instagram (and TikTok) put the picture first and the caption under it; X, LinkedIn and
    Facebook put the text first."""
    from pages.preview_card import preview_html
    photo = "https://media.example.com/m/bread.jpg"
    for platform, photo_first in (("instagram", True), ("x", False), ("linkedin", False)):
        post = Post(caption="Fresh bread today", accounts=(_account(platform, "brand"),), media_urls=(photo,))
        html = preview_html(preview(post, _account(platform, "brand")))
        assert (html.index(photo) < html.index("Fresh bread today")) == photo_first, platform
