"""What a post will look like on each platform's feed, declared once as data (pure, no I/O).

The composer's previews read these declarations: where a platform cuts the caption in the feed ("… more"),
which image shapes it shows as they are and which it crops to, whether a link becomes a card, and how a text
too long for X splits into a numbered thread. The figures are what each app shows in its main feed on a phone
as of late 2026 (the platforms publish none of them; they move a little between app versions), so a preview is
a close guide, not a promise. Text lengths are counted in the platform's own unit (`core.rules.validation`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

from core.domain import Account, Post
from core.domain.catalog import Platform
from core.domain.errors import Problem, ValidationError
from core.rules.limits import AspectRange, limits_for
from core.rules.validation import count_text

__all__ = ["FeedLook", "FEED", "PreviewData", "MediaFrame", "LinkCard", "preview", "split_thread", "cut_text",
           "x_thread", "cap_thread", "THREAD_SHOWN",
           "shown_ratio", "crop_box"]


@dataclass(frozen=True)
class FeedLook:
    """How one platform shows a post in its feed."""

    cut_chars: int | None        # the caption is cut after this many characters (None: shown whole)
    cut_lines: int | None        # ...or after this many lines, whichever comes first
    more: str                    # what the platform writes after the cut
    aspect: AspectRange          # image shapes shown as they are; anything wider or taller is cropped to the edge
    link_card: bool              # a link in the text becomes a card with the site's name
    handle_prefix: str = "@"     # how the handle is written under the name ("" where only the name shows)


FEED: dict[Platform, FeedLook] = {
    # Two lines or about 125 characters, then "… more"; portrait up to 4:5, landscape to 1.91:1.
    Platform.INSTAGRAM: FeedLook(125, 2, "… more", AspectRange(0.8, 1.91, "4:5 to 1.91:1"), link_card=False),
    Platform.FACEBOOK: FeedLook(480, 5, "… See more", AspectRange(0.8, 1.91, "4:5 to 1.91:1"), link_card=True,
                                handle_prefix=""),
    # About three lines on a phone, then "…see more".
    Platform.LINKEDIN: FeedLook(210, 3, "…see more", AspectRange(0.8, 1.91, "4:5 to 1.91:1"), link_card=True,
                                handle_prefix=""),
    # A post within the limit shows whole; a longer text becomes a thread (`split_thread`).
    Platform.X: FeedLook(None, None, "", AspectRange(0.75, 16 / 9, "3:4 to 16:9"), link_card=True),
    Platform.TIKTOK: FeedLook(100, 2, "… more", AspectRange(9 / 16, 9 / 16, "9:16"), link_card=False),
    Platform.YOUTUBE: FeedLook(100, 2, "…more", AspectRange(16 / 9, 16 / 9, "16:9"), link_card=False),
    Platform.THREADS: FeedLook(None, None, "", AspectRange(0.75, 1.91, "3:4 to 1.91:1"), link_card=True),
    Platform.BLUESKY: FeedLook(None, None, "", AspectRange(0.75, 1.91, "3:4 to 1.91:1"), link_card=True),
    Platform.MASTODON: FeedLook(None, None, "", AspectRange(16 / 9, 16 / 9, "16:9"), link_card=True),
}


@dataclass(frozen=True)
class MediaFrame:
    """One media item as the feed frames it: the shape it is shown in, and whether that crops it."""

    url: str
    ratio: float                 # width / height of the frame the feed shows
    cropped: bool                # the item's own shape is outside what the platform shows, so edges are cut
    refused: bool = False        # a photo of a shape the platform does not take at all (limits.image_aspect)


@dataclass(frozen=True)
class LinkCard:
    url: str
    site: str                    # the host without "www.", as cards show it


@dataclass(frozen=True)
class PreviewData:
    """Everything a preview needs for one account; the text is the person's own (escape it when rendering)."""

    platform: Platform
    name: str
    handle: str
    text: str                    # the whole text sent
    shown: str                   # what the feed shows before the reader taps "more"
    more: str                    # "" when nothing is cut
    # Where the platform threads (limits.supports_thread): the thread the post goes out as (the variant's own,
    # `threaded`), or the numbered posts a text over the limit would need (a suggestion); else ().
    thread: tuple[str, ...]
    media: tuple[MediaFrame, ...]
    card: LinkCard | None
    threaded: bool = False       # the post goes out as `thread` (the person's thread for this platform)
    first_comment: str = ""      # posted under the post on this platform ("" when none, or where it cannot be)
    # Posts of a thread too long for the platform that `thread` leaves out: it then holds the first few posts and
    # a last line saying how many more there are and that the platform takes no thread that long (`cap_thread`).
    thread_more: int = 0

    @property
    def truncated(self) -> bool:
        return bool(self.more)


_TRAILING_MARKS = re.compile(r"[.,;:!?…\-–—]+$")


def cut_text(text: str, chars: int | None, lines: int | None) -> tuple[str, bool]:
    """The part of `text` a feed shows before "more": at most `lines` lines and `chars` characters, cut at the
    last space before the limit (mid-word only when a single word is longer), and without the punctuation the cut
    ends on, since the platform writes its "…" right after it. Returns (shown, was_cut)."""
    shown = text
    if lines is not None:
        split = text.split("\n")
        if len(split) > lines:
            shown = "\n".join(split[:lines])
    if chars is not None and len(shown) > chars:
        head = shown[:chars + 1]         # a space right after the limit ends a whole word
        space = max(head.rfind(" "), head.rfind("\n"))
        shown = head[:space] if space > 0 else head[:chars]
    shown = shown.rstrip()
    cut = shown != text.rstrip()
    if cut:
        # "… more" reads badly after punctuation ("worldwide.… more"): the mark the cut ends on goes.
        shown = _TRAILING_MARKS.sub("", shown).rstrip() or shown
    return shown, cut


def shown_ratio(width: int | None, height: int | None, aspect: AspectRange) -> tuple[float, bool]:
    """The shape a feed gives an item of `width` x `height`: its own inside the range, else the nearest edge.
    Unknown dimensions take the range's squarest shape, uncropped as far as anyone can tell."""
    if not width or not height:
        return min(max(1.0, aspect.min), aspect.max), False
    own = width / height
    if aspect.allows(width, height):
        return own, False
    return min(max(own, aspect.min), aspect.max), True


def crop_box(width: int, height: int, ratio: float) -> tuple[int, int, int, int]:
    """The centred (left, top, right, bottom) box of a `width` x `height` image that a frame of `ratio` shows."""
    if width / height > ratio:          # too wide: the sides go
        keep = round(height * ratio)
        left = (width - keep) // 2
        return left, 0, left + keep, height
    keep = round(width / ratio)         # too tall: top and bottom go
    top = (height - keep) // 2
    return 0, top, width, top + keep


# ---------------------------------------------------------------- X threads

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n\s*")
_HASHTAGS_ONLY = re.compile(r"#\w+(?:\s+#\w+)*")


def _cut_word(word: str, budget: int, weigh) -> tuple[str, int, str]:
    """The longest start of `word` (at most `budget` characters) that weighs at most `budget`, its weight, and the
    rest: a guess from the weight per character, then a binary search, so a 30,000-character word is cut in a few
    counts per post, not one per character."""
    lo, hi = 1, min(len(word), budget)
    if (size := weigh(word[:hi])) <= budget:          # plain text: the first guess fits
        return word[:hi], size, word[hi:]
    guess = max(1, min(hi - 1, hi * budget // size))  # where an evenly weighted word (CJK, emoji) fills the post
    if (fit := weigh(word[:guess])) <= budget:
        if guess + 1 >= hi or weigh(word[:guess + 1]) > budget:
            return word[:guess], fit, word[guess:]
        lo, hi = guess + 1, hi - 1
    else:
        hi = guess - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if weigh(word[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return word[:lo], weigh(word[:lo]), word[lo:]


def _pieces(text: str, budget: int, counting: str) -> list[tuple[str, int]]:
    """Sentences, each further cut at spaces (and a single over-long word by characters) to fit `budget`, with
    their counts. Each piece is counted once: two pieces joined by a space count as their sum plus one (no
    link, emoji or character that the counts treat specially spans a space), so splitting stays linear."""

    def weigh(part: str) -> int:
        return count_text(part, counting)

    out: list[tuple[str, int]] = []
    for sentence in (s.strip() for s in _SENTENCE_END.split(text)):
        if not sentence:
            continue
        if len(sentence) <= budget * 4 and (size := weigh(sentence)) <= budget:
            out.append((sentence, size))
            continue
        current, used = "", 0
        for word in sentence.split():
            size = weigh(word) if len(word) <= budget * 4 else budget + 1
            while size > budget:      # one word longer than a post: cut it by characters
                head, head_size, word = _cut_word(word, budget, weigh)
                if current:
                    out.append((current, used))
                    current, used = "", 0
                out.append((head, head_size))
                size = weigh(word) if len(word) <= budget * 4 else budget + 1
            if not word:
                continue
            if current and used + 1 + size <= budget:
                current, used = f"{current} {word}", used + 1 + size
            else:
                if current:
                    out.append((current, used))
                current, used = word, size
        if current:
            out.append((current, used))
    return out


def _join(pieces: list[tuple[str, int]], budget: int, counting: str) -> list[list[tuple[str, int]]]:
    """The pieces gathered greedily into posts of at most `budget`; trailing hashtags never make a post of their
    own: they join the post before when they fit, else that post's last sentence moves down to go with them (or,
    where that post is one long sentence, the end of it: at most half its words)."""
    posts: list[list[tuple[str, int]]] = []
    used = 0
    for piece in pieces:
        if posts and used + 1 + piece[1] <= budget:
            posts[-1].append(piece)
            used += 1 + piece[1]
        else:
            posts.append([piece])
            used = piece[1]
    if len(posts) > 1 and all(_HASHTAGS_ONLY.fullmatch(p) for p, _ in posts[-1]):
        tags, before = posts[-1], posts[-2]
        size = sum(n for _, n in tags) + len(tags) - 1
        before_size = sum(n for _, n in before) + len(before) - 1
        if before_size + 1 + size <= budget:
            posts[-2:] = [before + tags]
        elif len(before) > 1 and before[-1][1] + 1 + size <= budget:
            posts[-2:] = [before[:-1], [before[-1], *tags]]
        else:
            words = before[-1][0].split(" ")
            for k in range(len(words) // 2, 0, -1):
                moved = " ".join(words[-k:])
                if (n := count_text(moved, counting)) + 1 + size <= budget:
                    kept = " ".join(words[:-k])
                    posts[-2:] = [[*before[:-1], (kept, count_text(kept, counting))], [(moved, n), *tags]]
                    break
    return posts


def split_thread(text: str, limit: int = 280, *, counting: str = "x_weighted") -> list[str]:
    """`text` as posts within `limit` each, counted in `counting` (X's weighted count by default; a platform's
    `text_counting` for another that threads): the text itself when it fits; else split between sentences
    (inside one only when a sentence alone is too long), each post ending with its number, " 1/3". Sentences are
    joined by a space within a post; hashtags at the end stay with the last sentence (never a post alone).
    Linear in the text's length (30,000 characters split in well under 0.1 s)."""
    text = text.strip()
    if (size := count_text(text, counting)) <= limit:
        return [text] if text else []
    # Room for the numbers: at least this many posts are needed (each holds at most `limit`), so the first
    # guess never reserves a digit too many, and a long text is not split twice.
    total_guess = 10 ** len(str(max(9, -(-size // limit)))) - 1
    while True:
        suffix_len = len(f" {total_guess}/{total_guess}")
        budget = limit - suffix_len
        posts = [" ".join(p for p, _ in post) for post in _join(_pieces(text, budget, counting), budget, counting)]
        if len(str(len(posts))) <= len(str(total_guess)):
            return [f"{p} {i}/{len(posts)}" for i, p in enumerate(posts, 1)]
        total_guess = 10 ** len(str(len(posts))) - 1


def x_thread(text: str) -> list[str]:
    """`text` split into a thread for X ("Post as a thread on X", in the composer and the post dialog); refused in
    words, before any box to edit is made, when X would need more posts than it takes in one thread."""
    limits = limits_for(Platform.X)
    parts = split_thread(text, limits.text_max)
    if limits.thread_max is not None and len(parts) > limits.thread_max:
        raise ValidationError(Problem("thread_too_long", f"This text would be {len(parts)} posts on X, which takes "
                                      f"at most {limits.thread_max} in a thread. Shorten it first.", field="thread"))
    return parts


THREAD_SHOWN = 3     # posts a preview draws of a thread longer than the platform takes


def cap_thread(thread: tuple[str, ...], most: int | None, label: str) -> tuple[tuple[str, ...], int]:
    """A thread as a preview draws it: whole when the platform takes it; else its first `THREAD_SHOWN` posts and
    a last line saying how many more there are and why it cannot go (the page stays short for any text).
    Returns (what to draw, how many posts were left out)."""
    if most is None or len(thread) <= most:
        return thread, 0
    left = len(thread) - THREAD_SHOWN
    return (*thread[:THREAD_SHOWN], f"… and {left:,} more posts ({len(thread):,} in all): too long for a thread, "
                                    f"{label} takes at most {most:,}. Shorten the text."), left


# ---------------------------------------------------------------- the preview

def preview(post: Post, account: Account, *,
            media_sizes: Mapping[str, tuple[int | None, int | None]] | None = None) -> PreviewData:
    """What `post` will look like in `account`'s feed. `media_sizes` maps a photo's link to its (width, height)
    where the caller knows them (an upload it has read); other items are framed by the platform's usual shape."""
    platform = account.platform
    look = FEED[platform]
    rendered = post.render(platform)
    text = rendered.text
    thread: tuple[str, ...] = ()
    limits = limits_for(platform)
    threaded = bool(rendered.thread) and limits.supports_thread
    if threaded:
        thread = (rendered.text, *rendered.thread)
        shown, cut = rendered.text, False
    elif limits.supports_thread and count_text(text, limits.text_counting) > limits.text_max:
        thread = tuple(split_thread(text, limits.text_max, counting=limits.text_counting))
        shown, cut = text, False
    else:
        shown, cut = cut_text(text, look.cut_chars, look.cut_lines)
    thread, thread_more = cap_thread(thread, limits.thread_max, platform.label)
    sizes = media_sizes or {}
    frames = []
    for url in rendered.media_urls:
        width, height = sizes.get(url, (None, None))
        ratio, cropped = shown_ratio(width, height, look.aspect)
        refused = bool(width and height and limits.image_aspect and not limits.image_aspect.allows(width, height))
        frames.append(MediaFrame(url=url, ratio=ratio, cropped=cropped, refused=refused))
    card = None
    if look.link_card and rendered.link and not rendered.media_urls:
        host = urlsplit(rendered.link if "//" in rendered.link else f"//{rendered.link}").hostname or rendered.link
        card = LinkCard(url=rendered.link, site=host.removeprefix("www."))
    handle = account.handle.lstrip("@")
    return PreviewData(platform=platform, name=account.display_name.strip().lstrip("@") or handle,
                       handle=f"{look.handle_prefix}{handle}" if look.handle_prefix else "",
                       text=text, shown=shown, more=look.more if cut else "", thread=thread,
                       media=tuple(frames), card=card, threaded=threaded, thread_more=thread_more,
                       first_comment=rendered.first_comment if limits.supports_first_comment else "")
