"""Media checked against a platform's limits declaration, every problem at once, in a marketer's words.

`check_media` compares one `MediaInfo` with one platform's `PlatformLimits` (types, size, aspect ratio,
duration). `MediaChecker` runs it for every media link of a post and every target platform, fetching
each link once (safely) or reading our own uploads from the library; the scheduler calls it before a
post can be scheduled.
"""
from __future__ import annotations

from dataclasses import replace
from math import gcd
from typing import Iterable

import httpx

from core.domain.errors import NotFoundError, Problem, ValidationError
from core.media.fetch import MediaFetchError, fetch_media
from core.media.formats import MB, bare_type, describe, megabytes, type_name
from core.media.library import MediaLibrary
from core.media.probe import MediaInfo, inspect_media
from core.media.renditions import convert_for_platforms, rendition_source
from core.rules.limits import AspectRange, PlatformLimits, limits_for

__all__ = ["MediaChecker", "check_media"]

_COMMON_RATIOS = ((1, 1), (4, 5), (5, 4), (4, 3), (3, 4), (3, 2), (2, 3), (16, 9), (9, 16), (2, 1), (1, 2),
                  (21, 9), (9, 21), (3, 1), (1, 3))


def check_media(info: MediaInfo, limits: PlatformLimits, *, label: str = "image 1") -> list[Problem]:
    """Every reason `limits.platform` would refuse this item, each naming it by `label`; [] when it fits."""
    platform = limits.platform.label
    problems: list[Problem] = []

    def add(code: str, message: str, severity: str = "error") -> None:
        problems.append(Problem(code=code, message=message, field="media", platform=limits.platform.value,
                                severity=severity))

    is_video = info.kind == "video"
    takes_images = limits.images_max > 0 or bool(limits.image_types)
    takes_videos = limits.videos_max > 0 or bool(limits.video_types)
    if is_video and not takes_videos:
        only = "images only" if takes_images else "no media"
        add("video_not_allowed", f"{platform} accepts {only}; {label} is a video.")
        return problems
    if not is_video and not takes_images:
        only = "videos only" if takes_videos else "no media"
        add("image_not_allowed", f"{platform} accepts {only}; {label} is a photo.")
        return problems

    noun = "videos" if is_video else "images"
    types = limits.video_types if is_video else limits.image_types
    normalized = {bare_type(t) for t in types}
    if normalized and bare_type(info.mime) not in normalized:
        names = sorted(type_name(t) for t in normalized)
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        add("media_type_not_allowed", f"{platform} accepts {listed} {noun} only; {label} is {describe(info.mime)}.")

    max_bytes = limits.video_max_bytes if is_video else limits.image_max_bytes
    if max_bytes is not None and info.size > max_bytes:
        size = megabytes(info.size)
        if size == megabytes(max_bytes):  # 8.01 MB must not read as "8 MB; ... up to 8 MB"
            size = f"{info.size / MB:.2f} MB" if f"{info.size / MB:.2f}" != f"{max_bytes / MB:.2f}" else f"{info.size:,} bytes"
        add("media_too_large", f"{label} is {size}; {platform} accepts {noun} up to {megabytes(max_bytes)}.")

    aspect = limits.video_aspect if is_video else limits.image_aspect
    if aspect is not None:
        if info.width and info.height:
            if not aspect.allows(info.width, info.height):
                add("media_aspect_ratio", f"{label} is {_ratio_words(info.width, info.height)}; "
                                          f"{platform} allows {_range_words(aspect)} for {noun}.")
        else:
            add("media_dimensions_unknown", f"Outpost could not read the size of {label}, so it could not check it "
                                            f"against {platform}'s {_range_words(aspect)} limit.", "warning")

    if is_video and (limits.video_min_s is not None or limits.video_max_s is not None):
        if info.duration_s is None:
            add("media_duration_unknown", f"Outpost could not read how long {label} is; {platform} needs "
                                          f"{_length_range(limits)}.", "warning")
        elif limits.video_min_s is not None and info.duration_s < limits.video_min_s:
            add("video_too_short", f"{label} is {_duration(info.duration_s)} long; {platform} needs at least "
                                   f"{_duration(limits.video_min_s)}.")
        elif limits.video_max_s is not None and info.duration_s > limits.video_max_s:
            add("video_too_long", f"{label} is {_duration(info.duration_s)} long; {platform} allows at most "
                                  f"{_duration(limits.video_max_s)}.")
    return problems


def _convert_hint(platform, *, animated: bool = False) -> str:
    limits = limits_for(platform)
    if "image/jpeg" not in {bare_type(t) for t in limits.image_types}:
        return ""
    if animated:      # a JPEG of it would be its first frame only
        return " Upload a video (MP4) to post the animation, or upload the file to post its first frame as a JPEG."
    return (f" Upload the file instead of linking to it, and Outpost will convert it to JPEG for "
            f"{limits.platform.label}.")


def _ratio_words(width: int, height: int) -> str:
    """'16:9 (1.78:1)' for common shapes, '1234×567 pixels (2.18:1)' otherwise."""
    ratio = width / height
    d = gcd(width, height)
    w, h = width // d, height // d
    if w > 21 or h > 21:
        near = [(a, b) for a, b in _COMMON_RATIOS if abs(ratio - a / b) / (a / b) < 0.005]
        if near:
            w, h = near[0]
        else:
            return f"{width}×{height} pixels ({_ratio_num(ratio)}:1)"
    return f"{w}:{h}" if h == 1 else f"{w}:{h} ({_ratio_num(ratio)}:1)"


def _ratio_num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _range_words(aspect: AspectRange) -> str:
    return aspect.label or f"{_ratio_num(aspect.min)}:1 to {_ratio_num(aspect.max)}:1"


def _duration(seconds: float) -> str:
    if seconds < 60:
        text = f"{seconds:.1f}".rstrip("0").rstrip(".")
        return f"{text} second" + ("" if text == "1" else "s")
    minutes, rest = divmod(round(seconds), 60)
    if rest == 0:
        return f"{minutes} minute" + ("" if minutes == 1 else "s")
    return f"{minutes} min {rest} s"


def _length_range(limits: PlatformLimits) -> str:
    if limits.video_min_s is not None and limits.video_max_s is not None:
        return f"{_duration(limits.video_min_s)} to {_duration(limits.video_max_s)}"
    if limits.video_min_s is not None:
        return f"at least {_duration(limits.video_min_s)}"
    return f"at most {_duration(limits.video_max_s or 0)}"


class MediaChecker:
    """Checks every media link of a post against every target platform, before it can be scheduled.

    Each link is fetched once (safely, see fetch_media) and inspected; each item is then checked
    against each platform's declared limits, naming the item that fails ("image 2 is 16:9...").
    Passed to ``Scheduler(media_checker=...)`` by the dashboard; scripts may leave it out.
    """

    # Every link of every platform is read here (or refused, in words): core.rules.validation's guess of a link's type
    # from its file name gives way to what the link holds (the Scheduler drops the guess when this is set).
    reads_each_link = True

    def __init__(self, *, allow_hosts: Iterable[str] = (), client: httpx.Client | None = None,
                 max_bytes: int = 300 * MB, timeout_s: float = 20.0, library: MediaLibrary | None = None):
        self.allow_hosts = tuple(allow_hosts)
        # Our own uploads are read from disk, not fetched back over the network.
        self.library = library
        self.client = client
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self._cache: dict[str, MediaInfo | ValidationError] = {}

    def prepare(self, post):
        """`post` with JPEG renditions of its uploads where a platform does not take their type (see renditions)."""
        return convert_for_platforms(post, self.library)

    def info(self, url: str) -> MediaInfo:
        cached = self._cache.get(url)
        if cached is None:
            try:
                cached = self._inspect(url)
            except ValidationError as exc:
                cached = exc
            self._cache[url] = cached
        if isinstance(cached, ValidationError):
            raise cached
        return cached

    def _inspect(self, url: str) -> MediaInfo:
        local = self.library.name_of(url) if self.library is not None else None
        if local is not None:
            try:
                with self.library.open(local) as handle:
                    return inspect_media(handle.read(), None, name=local)
            except NotFoundError as exc:
                raise MediaFetchError(Problem("media_missing", str(exc), field="media")) from None
        fetched = fetch_media(url, client=self.client, max_bytes=self.max_bytes, timeout_s=self.timeout_s,
                              allow_hosts=self.allow_hosts)
        return inspect_media(fetched.data, fetched.content_type, name=url)

    def _animation_lost(self, url: str, platform, label: str | None) -> list[Problem]:
        """A warning when `url` is a JPEG Outpost made for `platform` from an animated upload: only its first
        frame goes out (a warning, not a refusal: the platform takes the still; a video keeps the animation)."""
        name = self.library.name_of(url) if self.library is not None else None
        source = rendition_source(self.library, name) if name else None
        if source is None:
            return []
        try:
            original = self.info(self.library.public_url(source))
        except ValidationError:       # the original is gone: the rendition is what goes out, nothing to tell
            return []
        if original.kind != "image" or (original.frames or 1) < 2:
            return []
        which = f"the first frame of {label} only" if label else "the first frame only"
        return [Problem(code="animation_lost", field="media", platform=platform.value, severity="warning",
                        message=f"{platform.label} takes no animated {type_name(original.mime)}s: it would post "
                                f"{which}. Upload a video (MP4) to post the animation.")]

    def __call__(self, post) -> list[Problem]:
        problems: list[Problem] = []
        for platform in post.platforms:
            media = post.render(platform).media_urls
            images = videos = 0
            for url in media:
                try:
                    info = self.info(url)
                except ValidationError as exc:
                    for p in exc.problems:
                        if all(p.message != q.message for q in problems):
                            problems.append(p)
                    continue
                if info.kind == "video":
                    videos += 1
                    label = f"video {videos}"
                else:
                    images += 1
                    label = f"image {images}"
                found = check_media(info, limits_for(platform), label=label)
                found += self._animation_lost(url, platform, label if len(media) > 1 else None)
                if self.library is None or self.library.name_of(url) is None:   # a link: Outpost cannot convert it
                    found = [replace(p, message=p.message + _convert_hint(platform, animated=(info.frames or 1) > 1))
                             if p.code == "media_type_not_allowed" and info.kind == "image" else p for p in found]
                problems += found
        return problems
