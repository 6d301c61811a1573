"""One platform's preview card as HTML, shared by the composer, the post dialog and the approval queue.

Pure (no Streamlit): every text from the person is escaped before it goes into the HTML; tested directly."""
from __future__ import annotations

from html import escape

import math

from core.domain.catalog import Platform
from core.rules.limits import limits_for
from core.rules.previews import MediaFrame, PreviewData

_COLOURS = {Platform.INSTAGRAM: "#d62976", Platform.FACEBOOK: "#1877f2", Platform.LINKEDIN: "#0a66c2",
            Platform.X: "#0f1419", Platform.TIKTOK: "#111111", Platform.YOUTUBE: "#ff0000",
            Platform.THREADS: "#000000", Platform.BLUESKY: "#1185fe", Platform.MASTODON: "#6364ff"}


_ONE_LINE = "white-space:nowrap;overflow:hidden;text-overflow:ellipsis"


MEDIA_FIRST = (Platform.INSTAGRAM, Platform.TIKTOK)


def _ratio_words(ratio: float) -> str:
    for words, value in (("1:1", 1.0), ("4:5", 0.8), ("9:16", 9 / 16), ("16:9", 16 / 9), ("3:4", 0.75),
                         ("1.91:1", 1.91)):
        if abs(ratio - value) < 0.005:
            return words
    return f"{ratio:.2f}:1"


def _refusal(platform: Platform, frame: MediaFrame) -> str:
    """Why `platform` will not take this photo, in words that stand alone (the card is also shown without the
    composer's checks below it): too tall or too wide, and the shapes it does take."""
    taken = limits_for(platform).image_aspect
    if taken is None:
        return f"{platform.label} does not take a photo of this shape."
    # The frame is shown at the nearest edge of what the feed shows: that edge says which way the photo is off.
    tall = abs(math.log(frame.ratio / taken.min)) <= abs(math.log(frame.ratio / taken.max))
    shapes = taken.label or f"{_ratio_words(taken.min)} to {_ratio_words(taken.max)}"
    return f"{platform.label} does not take a photo this {'tall' if tall else 'wide'}: use one from {shapes}."


def preview_html(view: PreviewData, sources: dict[str, str] | None = None, *, threaded: bool = False,
                 comment: str = "") -> str:
    """One platform's preview card as HTML; every text from the person is escaped. `sources` maps a media link
    to what the browser should load for it (a data: URI for an upload not published yet). `threaded`: the person
    chose to post the text as the thread shown (else a thread is what an over-long X text would need)."""
    sources = sources or {}
    colour = _COLOURS.get(view.platform, "#444")
    initial = escape((view.name or "?")[:1].upper())
    head = (f'<div style="display:flex;align-items:center;gap:8px;margin-bottom:8px">'
            # A narrow card squeezes the name, never the avatar or the platform's badge (flex-shrink:0).
            f'<div style="width:36px;height:36px;flex-shrink:0;border-radius:50%;background:{colour};color:#fff;'
            f'display:flex;align-items:center;justify-content:center;font-weight:700">{initial}</div>'
            # ...the name and handle take one line each, cut with "…" as feeds do.
            f'<div style="line-height:1.2;min-width:0">'
            f'<div style="font-weight:700;{_ONE_LINE}" title="{escape(view.name)}">{escape(view.name)}</div>'
            f'<div style="color:#667;font-size:0.85em;{_ONE_LINE}">{escape(view.handle)}</div></div>'
            f'<div style="margin-left:auto;flex-shrink:0;white-space:nowrap;font-size:0.75em;color:#fff;'
            f'background:{colour};border-radius:10px;padding:2px 8px">{escape(view.platform.label)}</div></div>')
    text_style = "white-space:pre-wrap;word-wrap:break-word;margin:0 0 8px 0"
    rest = ""
    if view.thread:
        posts = [f'<div style="border-left:3px solid #cfd9de;padding:4px 0 4px 10px;margin-bottom:6px;{text_style}">'
                 f'{escape(p)}</div>' for p in view.thread]
        if threaded:
            note = (f'<div style="color:#536471;font-size:0.85em;margin-bottom:6px">A thread of {len(view.thread)} '
                    f'posts: each one replies to the one before.</div>')
        else:
            note = (f'<div style="color:#b45309;font-size:0.85em;margin-bottom:6px">Over X\'s 280: as a thread this '
                    f'is {len(view.thread) - (1 if view.thread_more else 0) + view.thread_more} posts. Tick "Post as '
                    f'a thread on X" to send it as these posts, or '
                    f'shorten it for X.</div>')
        body = note + posts[0]
        rest = "".join(posts[1:])        # the photos go with the first post of a thread
    else:
        more = f'<span style="color:#667">{escape(view.more)}</span>' if view.more else ""
        body = (f'<p style="{text_style}">{escape(view.shown)}{more}</p>' if view.shown else
                '<p style="color:#98a2b3;margin:0 0 8px 0">Your caption shows here.</p>')
    media = ""
    for frame in view.media:
        src = sources.get(frame.url, frame.url)
        note = ""
        if frame.refused:
            note = f'<div style="font-size:0.75em;color:#b91c1c">{escape(_refusal(view.platform, frame))}</div>'
        elif frame.cropped:
            note = f'<div style="font-size:0.75em;color:#667">Cropped to {_ratio_words(frame.ratio)} in the feed</div>'
        if src.startswith(("http://", "https://", "data:image/")):
            inner = (f'<img src="{escape(src, quote=True)}" alt="" '
                     f'style="width:100%;height:100%;object-fit:cover;display:block">')
        else:
            inner = '<div style="color:#fff;padding:8px">▶ video</div>'
        media += (f'<div style="aspect-ratio:{frame.ratio:.4f};width:100%;overflow:hidden;border-radius:8px;'
                  f'background:#222;margin-bottom:4px">{inner}</div>{note}')
    card = ""
    if view.card:
        card = (f'<div style="border:1px solid #dde;border-radius:8px;padding:8px;margin-top:4px">'
                f'<div style="font-size:0.75em;color:#667">{escape(view.card.site)}</div>'
                f'<div style="font-size:0.85em;{_ONE_LINE}">'
                f'{escape(view.card.url)}</div></div>')
    if comment:
        rest += (f'<div style="border-top:1px solid #eef;margin-top:8px;padding-top:6px;font-size:0.9em">'
                 f'<span style="color:#667">First comment · {escape(view.name)}</span>'
                 f'<div style="{text_style}">{escape(comment)}</div></div>')
    # Instagram and TikTok show the photo or video first and the caption under it; the others text first.
    content = media + body if view.platform in MEDIA_FIRST and media else body + media
    return (f'<div style="border:1px solid #e1e4e8;border-radius:12px;padding:12px;background:#fff;color:#0f1419;'
            f'font-family:system-ui,sans-serif;font-size:14px;max-width:420px">{head}{content}{card}{rest}</div>')
