"""Is this post within every target platform's limits? One validator, every problem at once.

Reads only the declarations in `core.rules.limits`. Counts the text that is
actually sent (`Post.render(platform).text`), in each platform's own unit: X's
weighted count (https://github.com/twitter/twitter-text/blob/master/config/v3.json),
Bluesky's graphemes (a real UAX #29 segmenter), TikTok's UTF-16 runes, YouTube's bytes.
Text that no store or platform accepts (`core.domain.text_problem`: lone surrogates, NUL,
control characters) is reported before anything else is judged. Media types are judged
from the URL's file extension; the fetched bytes (size, duration, aspect ratio) are
checked later by `core.media`.
"""
from __future__ import annotations

import posixpath
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import regex
from twitter_text.config import config as _twitter_config
from twitter_text.extract_urls import extract_urls_with_indices
from twitter_text.regexp.emoji import emoji as _EMOJI

from core.domain import Post, RenderedContent, post_text_problems
from core.domain.errors import Problem, ValidationError
from core.domain.catalog import Platform
from core.rules.limits import GIF, JPEG, LIMITS, MOV, MP4, PNG, WEBM, WEBP, PlatformLimits, limits_for

# ---------------------------------------------------------------- counting text

_UNITS = {
    "chars": "characters", "x_weighted": "weighted characters", "graphemes": "characters",
    "utf16": "characters", "bytes": "bytes", "chars_emoji_bytes": "characters",
}
# Said after the count when the platform's unit differs from what a person would count.
_HINTS = {
    "x_weighted": "each link counts as 23, and each emoji or Chinese, Japanese or Korean character as 2",
    "utf16": "each emoji counts as 2",
    "bytes": "accented letters take 2 bytes and emoji 4",
    "chars_emoji_bytes": "each emoji counts as 4 or more",
}


@dataclass(frozen=True)
class TextCount:
    """How much of a platform's text allowance some text uses, for the composer's counters."""

    used: int
    limit: int
    unit: str  # plain words: "characters", "weighted characters", "bytes"

    @property
    def remaining(self) -> int:
        return self.limit - self.used

    @property
    def over(self) -> bool:
        return self.used > self.limit


_GRAPHEME = regex.compile(r"\X")
# A str can hold a lone surrogate (a broken copy and paste) that no encoder accepts; counting sees U+FFFD
# instead, so the composer's counter never crashes (the text check refuses the post, `core.domain`).
_SURROGATE = re.compile("[\ud800-\udfff]")


def count_text(text: str, counting: str) -> int:
    """Length of `text` in one of the units `PlatformLimits.text_counting` names (after NFC)."""
    text = text or ""
    if text.isascii() and (counting != "x_weighted" or "." not in text):
        # The common case, without normalising or searching: one ASCII character is one of every unit (a line
        # break written "\r\n" is one character to Bluesky and X), and without a dot X sees no link.
        if counting in ("graphemes", "x_weighted") and "\r" in text:
            return len(text) - text.count("\r\n")
        if counting not in _UNITS:
            raise ValueError(f"unknown text counting {counting!r}")
        return len(text)
    text = unicodedata.normalize("NFC", _SURROGATE.sub("\ufffd", text))
    if counting == "chars":
        return len(text)
    if counting == "x_weighted":
        return _x_weighted(text)
    if counting == "graphemes":
        return len(text) - text.count("\r\n") if text.isascii() else _grapheme_count(text)
    if counting == "utf16":
        return len(text.encode("utf-16-le")) // 2
    if counting == "bytes":
        return len(text.encode("utf-8"))
    if counting == "chars_emoji_bytes":
        return sum(len(ch.encode("utf-8")) if _is_emoji_part(ord(ch)) else 1 for ch in text)
    raise ValueError(f"unknown text counting {counting!r}")


_X = _twitter_config["defaults"]
# Code points outside X's light ranges weigh `default_weight` (2 after scaling) instead of 1.
_X_HEAVY = re.compile("[^" + "".join(f"\\U{r['start']:08x}-\\U{r['end']:08x}" for r in _X["ranges"]) + "]")
# Every emoji twitter-text knows starts with one of these characters (Unicode's Extended_Pictographic, the
# joiners and selectors; no other character starts one or follows a keycap's digit, checked over all of Unicode
# against its pattern when this was written), or with a keycap's "#", "*" or digit just before one: the pattern
# is tried only there, so Japanese or Cyrillic text is not run through its 92,000 characters.
_KEYCAP_BASES = frozenset("#*0123456789")
_DOT_WORD = re.compile(r"\.\w")
_LINK_WORD = re.compile(r"[^ \t\n]+")
_MAYBE_EMOJI = re.compile("[\u00a9\u00ae\u200d\u203c-\u2bff\u3030\u303d\u3297\u3299\ufe0f"
                          "\U0001f000-\U0001ffff\U000e0020-\U000e007f]")


def _x_weighted(text: str) -> int:
    """`twitter_text.parse_tweet(text).weightedLength`, the same figure in linear time: parse_tweet runs its
    92,000-character emoji pattern over every character and weighs each one in Python (0.2 s for 30,000
    characters, on every counter refresh). Here the characters are weighed by one regular expression, the emoji
    pattern is tried only where one may start, and links and emoji replace their characters'
    weight exactly as parse_tweet's loop does (a link first where both start at one place)."""
    text = re.sub(r"\r\n|\r", "\n", text)
    if not text:
        return 0
    scale, heavy = _X["scale"], _X["default_weight"]
    light = next((r["weight"] for r in _X["ranges"]), heavy)

    def plain(a: int, b: int) -> int:
        if a >= b:
            return 0
        part = text[a:b]
        n_heavy = len(_X_HEAVY.findall(part)) if not part.isascii() else 0
        return n_heavy * heavy + (len(part) - n_heavy) * light

    entities: dict[int, int] = {}        # start -> end; a link wins over an emoji starting at the same place
    weights: dict[int, int] = {}         # start -> weight (scaled)
    pos = 0
    for hit in () if text.isascii() else _MAYBE_EMOJI.finditer(text):
        # An emoji starts at one of these characters, or at the "#", "*" or digit of a keycap just before one:
        # trying only there finds what the pattern's own search finds, without running it at every character.
        i = hit.start()
        if i < pos:
            continue
        for start in (i - 1, i) if i - 1 >= pos and text[i - 1] in _KEYCAP_BASES else (i,):
            if (m := _EMOJI.match(text, start)) and m.end() > start:
                entities[start], weights[start] = m.end(), heavy
                pos = m.end()
                break
    for word in _LINK_WORD.finditer(text) if _DOT_WORD.search(text) else ():
        # A link holds a dot and a letter after it, and no space: twitter-text's link pattern (slow on
        # non-Latin text) runs only over such words, each with the space before it (which the pattern reads).
        if not _DOT_WORD.search(word.group()):
            continue
        at = max(word.start() - 1, 0)
        for url in extract_urls_with_indices(text[at:word.end()]):
            start = at + url["indices"][0]
            entities[start], weights[start] = start + len(url["url"]), _X["transformed_url_length"] * scale
    total, pos = 0, 0
    for start in sorted(entities):
        if start < pos:
            continue
        total += plain(pos, start) + weights[start]
        pos = entities[start]
    total += plain(pos, len(text))
    return int(total / scale)


def text_count(platform: Platform | str, text: str) -> TextCount:
    """The live counter for `text` on `platform`: used, limit and unit."""
    limits = limits_for(platform)
    return TextCount(used=count_text(text, limits.text_counting), limit=limits.text_max,
                     unit=_UNITS[limits.text_counting])


def comment_count(platforms, text: str) -> tuple[Platform, TextCount] | None:
    """The first comment's live counter against the tightest of `platforms` that take one (the least room left:
    the smallest limit while nothing is typed), and that platform; None when none of them takes a first comment.
    Counted as `validate_post` counts it (the text stripped, in the platform's unit), so the counter and the
    refusal at save agree."""
    text = (text or "").strip()
    counts = [(Platform(p), TextCount(used=count_text(text, lim.text_counting), limit=lim.comment_max,
                                      unit=_UNITS[lim.text_counting]))
              for p in dict.fromkeys(platforms)
              if (lim := limits_for(p)).supports_first_comment and lim.comment_max is not None]
    return min(counts, key=lambda pc: (pc[1].remaining, pc[1].limit), default=None)


def _grapheme_count(text: str) -> int:
    """User-perceived characters (extended grapheme clusters, UAX #29), as Bluesky's Intl.Segmenter counts them.

    ``regex``'s ``\\X`` follows the current Unicode rules: Indic conjuncts, Thai and Hangul jamo sequences,
    prepend characters, emoji ZWJ sequences, flags.
    """
    return sum(1 for _ in _GRAPHEME.finditer(text))


def _is_emoji_part(cp: int) -> bool:
    """Code points in the emoji blocks (and the joiners and selectors that build emoji sequences)."""
    return (0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF or 0x2300 <= cp <= 0x23FF
            or 0x2B00 <= cp <= 0x2BFF or 0xFE00 <= cp <= 0xFE0F or cp in (0x200D, 0x20E3)
            or 0xE0020 <= cp <= 0xE007F)


# ---------------------------------------------------------------- media, hashtags, links

_TYPES_BY_EXTENSION = {".jpg": JPEG, ".jpeg": JPEG, ".png": PNG, ".gif": GIF, ".webp": WEBP,
                       ".mp4": MP4, ".mov": MOV, ".webm": WEBM}
# How people name each type, in the order lists are written.
_TYPE_NAMES = {JPEG: "JPEG", PNG: "PNG", GIF: "GIF", WEBP: "WebP", MP4: "MP4", MOV: "MOV", WEBM: "WebM"}
_ARTICLES = {MP4: "an"}

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# A hashtag needs one non-digit ("#1" is not a tag on any platform we know).
_HASHTAG = re.compile(r"(?<![\w&#])#(\w*[^\W\d]\w*)")
_MENTION = re.compile(r"(?<![\w@])@(\w+)")


@dataclass(frozen=True)
class _Media:
    position: int        # 1-based, in the order the user attached them
    name: str            # the file name, for messages
    mime: str | None     # None: unknown extension, left to core.media
    kind: str | None     # "image", "video" or None


def _classify(url: str, position: int) -> _Media:
    path = urlparse(url).path or url
    name = unquote(posixpath.basename(path.rstrip("/"))) or url
    mime = _TYPES_BY_EXTENSION.get(posixpath.splitext(path)[1].lower())
    kind = None if mime is None else mime.split("/")[0]
    return _Media(position, name, mime, kind)


def _without_urls(text: str) -> str:
    # A "#section" or "@user" inside a link is not a tag or a mention.
    return _URL.sub(" ", text)


def _hashtags_in(text: str) -> set[str]:
    return {m.lower() for m in _HASHTAG.findall(_without_urls(text))}


def _mentions_in(text: str) -> set[str]:
    return {m.lower() for m in _MENTION.findall(_without_urls(text))}


def _is_web_address(link: str) -> bool:
    parts = urlparse(link)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not re.search(r"\s", link)


# Characters that show nothing: a caption made only of these (and spaces) is empty.
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_INVISIBLE = re.compile(f"[\\s{_ZERO_WIDTH}]+")


def _is_blank(text: str) -> bool:
    return not _INVISIBLE.sub("", text)


def _is_empty(content: RenderedContent) -> bool:
    return _is_blank(content.text) and not content.media_urls


# ---------------------------------------------------------------- messages

def _n(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count:,} {singular if count == 1 else (plural or singular + 's')}"


def _and_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _type_list(mimes: frozenset[str]) -> str:
    return _and_list([name for mime, name in _TYPE_NAMES.items() if mime in mimes])


def _additions(content: RenderedContent) -> list[str]:
    """What render() added to the caption (link, hashtags, call to action), in plain words."""
    caption = content.caption.strip()
    rest = content.text.replace(caption, "", 1) if caption else content.text
    added: list[str] = []
    if content.link and content.link not in content.caption and content.link in rest:
        added.append("link")
        rest = rest.replace(content.link, "", 1)
    tags = [t for t in content.hashtags if t.lower() not in content.caption.lower() and t in rest]
    if tags:
        added.append("hashtags")
        for t in tags:
            rest = rest.replace(t, "", 1)
    if rest.strip():
        added.insert(0, "call to action")
    return added


def _empty_message(label: str | None = None) -> str:
    where = f" on {label}" if label else ""
    return f"This post is empty{where}: add a caption or at least one image or video."


def _link_problem(link: str, platform: str | None) -> Problem:
    if not re.match(r"https?://", link, re.IGNORECASE):
        message = f"The link '{link}' is not a web address; it should start with https://"
    else:
        message = f"The link '{link}' is not a web address; check it for spaces or typing mistakes."
    return Problem("bad_link", message, field="link", platform=platform)


# ---------------------------------------------------------------- far too much

# Far over what any platform takes: refused by their length alone, before counting (the platforms' own counts,
# X's links, graphemes, run over megabytes of text for seconds of CPU). Every platform's real limit is well under
# these, so a post refused here would be refused by every platform anyway.
TEXT_CEILING = 100_000          # characters in any one text (caption, first comment, a thread's post, ...)
LINK_CEILING = 8_000            # characters in a link (browsers and platforms stop far sooner)
TITLE_CEILING = 1_000           # characters in a title (the longest any platform takes is 100)
ITEMS_CEILING = 1_000           # hashtags, media items or a thread's posts


# The codes of those refusals: a caller that finds one has nothing more worth working out about the post.
OVERSIZED_CODES = frozenset({"far_too_long", "far_too_many", "link_far_too_long"})


# A reason a person gives (why a post is cancelled or rejected) is kept in the activity log and sent to the author:
# a few sentences, not a document.
REASON_MAX = 1_000


def check_reason(reason: str | None) -> None:
    """Raise ValidationError, in words, when a cancel or reject reason is longer than REASON_MAX characters."""
    if reason and len(reason) > REASON_MAX and len(reason.strip()) > REASON_MAX:
        raise ValidationError(Problem(
            "reason_too_long", f"Keep the reason to {REASON_MAX:,} characters or fewer (a few sentences); this one "
                               f"has {len(reason.strip()):,}.", field="reason"))


def _longest_text_allowed() -> tuple[int, str]:
    most = max(LIMITS.values(), key=lambda lim: lim.text_max)
    return most.text_max, most.platform.label


def oversized_problems(post: Post) -> list[Problem]:
    """Texts and lists far longer than any platform takes, found by their length alone (cheap on any size)."""
    problems: list[Problem] = []
    longest, where = _longest_text_allowed()

    def said(what: str, label: str | None) -> str:
        return f"On {label}, {what}" if label else what[0].upper() + what[1:]

    def text(value: str | None, what: str, field: str, label: str | None) -> None:
        if value and len(value) > TEXT_CEILING:
            problems.append(Problem(
                "far_too_long", f"{said(what, label)} has {len(value):,} characters, far more than any platform "
                                f"takes (the most is {longest:,}, on {where}). Shorten it.", field=field))

    def items(values, what: str, field: str, label: str | None) -> None:
        if values and len(values) > ITEMS_CEILING:
            on = f" for {label}" if label else ""
            problems.append(Problem(
                "far_too_many", f"This post has {len(values):,} {what}{on}; Outpost takes at most "
                                f"{ITEMS_CEILING:,}, far more than any platform uses. Remove most of them.",
                field=field))

    for platform, content in [(None, post)] + list(post.variants.items()):
        label = platform.label if platform is not None else None
        text(content.caption, "the caption", "caption", label)
        text(content.first_comment, "the first comment", "first_comment", label)
        for n, part in enumerate(getattr(content, "thread", None) or (), start=1):
            text(part, f"post {n} of the thread", "thread", label)
        items(getattr(content, "thread", None), "posts in its thread", "thread", label)
        tags = content.hashtags or ()
        items(tags, "hashtags", "hashtags", label)
        text(" ".join(tags) if len(tags) <= ITEMS_CEILING else "", "the list of hashtags", "hashtags", label)
        media = content.media_urls or ()
        items(media, "images and videos", "media", label)
        links = [("the link", "link", content.link)] + [
            (f"the link of media item {n}", "media", url) for n, url in enumerate(media, start=1)
            if len(media) <= ITEMS_CEILING]
        for what, field, link in links:
            if link and len(link) > LINK_CEILING:
                problems.append(Problem(
                    "link_far_too_long", f"{said(what, label)} has {len(link):,} characters; no web address is that "
                                         f"long (Outpost takes up to {LINK_CEILING:,}). Check that only the link was "
                                         "pasted.", field=field))
        if content.title and len(content.title) > TITLE_CEILING:
            problems.append(Problem(
                "far_too_long", f"{said('the title', label)} has {len(content.title):,} characters, far more than "
                                f"any platform takes (the most is {_longest_title_allowed():,}). Shorten it.",
                field="title"))
    text(post.call_to_action, "the call to action", "call_to_action", None)
    return problems


def _longest_title_allowed() -> int:
    return max(lim.title_max or 0 for lim in LIMITS.values())


# ---------------------------------------------------------------- validating

def validate_content(content: RenderedContent, limits: PlatformLimits) -> list[Problem]:
    """Every way `content` breaks `limits`, in plain words (empty list: it fits)."""
    return _shared_problems(content, limits) + _platform_problems(content, limits)


def _shared_problems(content: RenderedContent, limits: PlatformLimits) -> list[Problem]:
    """The checks that do not depend on the platform's limits (emptiness, the link)."""
    slug = limits.platform.value
    problems = []
    if _is_empty(content):
        problems.append(Problem("empty_post", _empty_message(), field="caption", platform=slug))
    if content.link and not _is_web_address(content.link):
        problems.append(_link_problem(content.link, slug))
    return problems


def _platform_problems(content: RenderedContent, limits: PlatformLimits) -> list[Problem]:
    label, slug = limits.platform.label, limits.platform.value
    problems: list[Problem] = []

    def add(code: str, message: str, field: str) -> None:
        problems.append(Problem(code, message, field=field, platform=slug))

    # -- text
    text = content.text
    used = count_text(text, limits.text_counting)
    added = [] if content.thread else _additions(content)   # a thread's posts are sent as the person wrote them
    plural = len(added) > 1 or added == ["hashtags"]
    after = f" once its {_and_list(added)} {'are' if plural else 'is'} added" if added else ""
    if used > limits.text_max:
        verb = "counts as" if limits.text_counting == "x_weighted" else "has"
        hint = _HINTS.get(limits.text_counting) if used != count_text(text, "chars") else None
        add("caption_too_long",
            f"{label} allows {limits.text_max:,} {_UNITS[limits.text_counting].replace('weighted ', '')}; "
            f"{'post 1 of the thread' if content.thread else 'this caption'} {verb} {used:,}{after}"
            + (f" ({hint})." if hint else "."), "thread" if content.thread else "caption")
    elif limits.text_max_bytes is not None and (size := count_text(text, "bytes")) > limits.text_max_bytes:
        add("caption_too_long",
            f"{label} allows {limits.text_max_bytes:,} bytes of text; this caption has {size:,}{after} "
            f"({_HINTS['bytes']}).", "caption")
    problems += _thread_and_comment_problems(content, limits)
    if bad := sorted({ch for ch in text if ch in limits.text_forbidden_chars}):
        what, it = ("an invisible character", "it") if len(bad) == 1 else ("invisible characters", "them")
        add("invalid_character",
            f"{label} refuses this caption: it contains {what} ({_and_list([f'U+{ord(c):04X}' for c in bad])}) "
            f"that {label} calls invalid. Delete {it} (retyping the text around {it} usually does).", "caption")
    if limits.hashtags_max is not None and (tags := len(_hashtags_in(text))) > limits.hashtags_max:
        add("too_many_hashtags", f"{label} allows {_n(limits.hashtags_max, 'hashtag')}; this post has {tags:,}.",
            "hashtags")
    if limits.mentions_max is not None and (mentions := len(_mentions_in(text))) > limits.mentions_max:
        add("too_many_mentions",
            f"{label} allows {_n(limits.mentions_max, '@mention')}; this post has {mentions:,}.", "caption")

    # -- title (only where the platform has one)
    title = content.title or ""
    if limits.title_max is not None and title:
        if (length := count_text(title, "chars")) > limits.title_max:
            add("title_too_long",
                f"{label} allows {_n(limits.title_max, 'character')} in a title; this title has {length:,}.", "title")
        bad = sorted({ch for ch in title if ch in limits.title_forbidden_chars})
        if bad:
            add("bad_title", f"{label} titles cannot contain {' or '.join(bad)}.", "title")

    # -- media
    media = [_classify(url, i) for i, url in enumerate(content.media_urls, start=1)]
    images = [m for m in media if m.kind == "image"]
    videos = [m for m in media if m.kind == "video"]
    unknown = [m for m in media if m.kind is None]
    counted = False
    if len(images) > limits.images_max:
        counted = True
        if limits.images_max == 0:
            add("too_many_images", f"{label} does not accept images; this post has {_n(len(images), 'image')}.",
                "media")
        else:
            add("too_many_images", f"{label} allows {_n(limits.images_max, 'image')} in one post; "
                                   f"this post has {len(images):,}.", "media")
    if len(videos) > limits.videos_max:
        counted = True
        if limits.videos_max == 0:
            add("too_many_videos", f"{label} does not accept videos; this post has {_n(len(videos), 'video')}.",
                "media")
        else:
            add("too_many_videos", f"{label} allows {_n(limits.videos_max, 'video')} in one post; "
                                   f"this post has {len(videos):,}.", "media")
    if images and videos and not limits.allows_mixed_media and limits.images_max and limits.videos_max:
        counted = True
        add("mixed_media", f"{label} cannot mix photos and a video in one post.", "media")
    if not counted and len(media) > limits.media_max:
        if limits.images_max == 0:
            noun = ("video", "videos")
        elif limits.videos_max == 0:
            noun = ("image", "images")
        elif limits.allows_mixed_media:
            noun = ("image or video", "images or videos")
        else:
            noun = ("media file", "media files")
        add("too_many_media", f"{label} allows {_n(limits.media_max, *noun)} in one post; "
                              f"this post has {len(media):,}.", "media")
    for kind, items, accepted, allowed in (("image", images, limits.image_types, limits.images_max),
                                           ("video", videos, limits.video_types, limits.videos_max)):
        if not accepted or not allowed:
            continue
        for m in items:
            if m.mime not in accepted:
                add("media_type",
                    f"{label} accepts {_type_list(accepted)} {kind}s only; {kind} {m.position} ({m.name}) is "
                    f"{_ARTICLES.get(m.mime, 'a')} {_TYPE_NAMES[m.mime]}." + _convert_hint(kind, accepted, label),
                    "media")
    if limits.requires_video and not videos and not unknown:
        add("video_required", f"{label} needs exactly one video.", "media")
    elif limits.requires_media and not media:
        add("media_required", f"{label} needs at least one image or video.", "media")
    return problems


def _convert_hint(kind: str, accepted: frozenset[str], label: str) -> str:
    """Outpost converts uploaded photos to JPEG for a platform that takes only JPEG (core.media.renditions), not
    photos given by link: say so where that would help."""
    if kind != "image" or JPEG not in accepted:
        return ""
    return f" Upload the file instead of linking to it, and Outpost will convert it to JPEG for {label}."


def _thread_and_comment_problems(content: RenderedContent, limits: PlatformLimits) -> list[Problem]:
    """A thread's replies (each within the platform's text limit, in its own count) and the first comment (within
    the platform's comment limit; a warning where the platform takes none, since the post still goes)."""
    label, slug = limits.platform.label, limits.platform.value
    problems: list[Problem] = []
    unit = _UNITS[limits.text_counting].replace("weighted ", "")
    if content.thread:
        posts = (content.text, *content.thread)
        if not limits.supports_thread:
            problems.append(Problem(
                "thread_not_supported",
                f"{label} cannot post a thread: Outpost sends one post there. Join the thread into one text for "
                f"{label}, or remove {label}'s thread.", field="thread", platform=slug))
        else:
            if limits.thread_max is not None and len(posts) > limits.thread_max:
                problems.append(Problem(
                    "thread_too_long", f"A thread on {label} can have at most {limits.thread_max:,} posts; this one "
                                       f"has {len(posts):,}. Shorten the text or join some posts.",
                    field="thread", platform=slug))
            for n, part in enumerate(posts, start=1):
                if _is_blank(part):
                    problems.append(Problem("thread_post_empty",
                                            f"Post {n} of the {label} thread is empty: write something in it or "
                                            "remove it.", field="thread", platform=slug))
                elif n > 1 and (bad := sorted({ch for ch in part if ch in limits.text_forbidden_chars})):
                    problems.append(Problem(
                        "invalid_character",
                        f"{label} refuses post {n} of the thread: it contains an invisible character "
                        f"({_and_list([f'U+{ord(c):04X}' for c in bad])}) that {label} calls invalid. Delete it.",
                        field="thread", platform=slug))
                elif n > 1 and (used := count_text(part, limits.text_counting)) > limits.text_max:
                    hint = _HINTS.get(limits.text_counting) if used != count_text(part, "chars") else None
                    problems.append(Problem(
                        "thread_post_too_long",
                        f"{label} allows {limits.text_max:,} {unit} in each post of a thread; post {n} has "
                        f"{used:,}" + (f" ({hint})." if hint else "."), field="thread", platform=slug))
    comment = content.first_comment
    if comment and not _is_blank(comment):
        if not limits.supports_first_comment:
            problems.append(Problem(
                "first_comment_not_supported",
                f"{label} does not let Outpost add a first comment: the post goes out on {label} without it.",
                field="first_comment", platform=slug, severity="warning"))
        elif limits.comment_max is not None and (used := count_text(comment, limits.text_counting)) > limits.comment_max:
            problems.append(Problem(
                "first_comment_too_long",
                f"{label} allows {limits.comment_max:,} {unit} in a comment; the first comment has {used:,}.",
                field="first_comment", platform=slug))
    return problems


def validate_post(post: Post) -> list[Problem]:
    """Every problem with `post` on every platform it targets, at once (empty list: it can be scheduled)."""
    problems: list[Problem] = []
    if not post.accounts:
        problems.append(Problem("no_accounts", "Choose at least one account to post to.", field="accounts"))
    if huge := oversized_problems(post):
        # Nothing else is judged on text far longer than any platform takes (counting it would cost seconds).
        return problems + huge
    if broken := post_text_problems(post):
        # Nothing else is judged on text that cannot be stored or sent (and no message repeats it).
        return problems + broken
    platforms = post.platforms  # two accounts on one platform are checked once
    rendered = {p: post.render(p) for p in platforms}

    # Emptiness and links are reported once for the whole post, not once per platform.
    if not platforms:
        base = RenderedContent(platform=Platform.X, text="\n\n".join(
            s for s in (post.caption.strip(), post.call_to_action.strip(), post.link.strip(), " ".join(post.hashtags))
            if s), caption=post.caption, hashtags=post.hashtags, media_urls=post.media_urls,
            link=post.link.strip(), title=None)
        if _is_empty(base):
            problems.append(Problem("empty_post", _empty_message(), field="caption"))
        if base.link and not _is_web_address(base.link):
            problems.append(_link_problem(base.link, None))
    else:
        empty = [p for p in platforms if _is_empty(rendered[p])]
        if empty and len(empty) == len(platforms):
            problems.append(Problem("empty_post", _empty_message(), field="caption"))
        else:
            problems += [Problem("empty_post", _empty_message(p.label), field="caption", platform=p.value)
                         for p in empty]
        bad_links: dict[str, list[Platform]] = {}
        for p in platforms:
            link = rendered[p].link
            if link and not _is_web_address(link):
                bad_links.setdefault(link, []).append(p)
        for link, where in bad_links.items():
            problems.append(_link_problem(link, where[0].value if len(where) == 1 and len(platforms) > 1 else None))

    for p in platforms:
        problems += _platform_problems(rendered[p], limits_for(p))
    return problems


def ensure_valid(post: Post) -> None:
    """Raise ValidationError listing every problem if any of them is an error; warnings alone pass."""
    problems = validate_post(post)
    if any(p.severity == "error" for p in problems):
        raise ValidationError(problems)
