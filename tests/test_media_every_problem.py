"""Every media problem at once: a link Outpost refuses or cannot reach is said even when other media problems stand
(a type guessed from its name, too many items), and then the guess about that link is not said (it is moot); a link
Outpost reads is judged by what it holds, once, not also by its name; each link is fetched once per save."""
from __future__ import annotations

import io
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from core.domain import Account, Post, Schedule
from core.domain.errors import ValidationError
from core.media.checks import MediaChecker
from core.rules.permissions import Actor
from core.services.scheduler import Scheduler

OWN_ADDRESS = "That link points to this server's own address (127.0.0.1); Outpost only fetches media from public websites."
GUESS = "Instagram accepts JPEG images only; image 1 (x.png) is a PNG."


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1080, 1080), (200, 60, 30)).save(out, "PNG")
    return out.getvalue()


HITS: list[str] = []


class _Media(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        HITS.append(self.path)
        body = _png()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def media_host():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Media)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _post(store, clock, *urls, platforms=("instagram", "x")):
    accounts = tuple(store.save_account(Account(platform=p, handle=f"@brand_{p}", id=f"a_{p}", daily_cap=100,
                                                min_gap_minutes=0)) for p in platforms)
    return Post(caption="Spring is here.", accounts=accounts, media_urls=urls,
                schedule=Schedule(scheduled_at=clock() + timedelta(days=1), timezone_name="UTC"))


def _said(store, clock, post, checker) -> list[str]:
    with pytest.raises(ValidationError) as refused:
        Scheduler(store, clock=clock, actor=Actor.system("test"), media_checker=checker).schedule_post("p1", post)
    assert store.list_posts() == []
    return [p.message for p in refused.value.problems]


def test_a_refused_link_is_said_for_instagram_and_x_and_its_type_guess_is_dropped(store, clock):
    """The tester's case: with Instagram and X, only the PNG guess was said; the real reason only with X alone."""
    said = _said(store, clock, _post(store, clock, "http://127.0.0.1:22/x.png"), MediaChecker())
    assert said == [OWN_ADDRESS]


def test_a_refused_link_is_said_with_every_other_media_problem(store, clock):
    """Five links for X (it takes four): the count and each refused link, at once."""
    urls = ("http://127.0.0.1:22/x.png",) + tuple(f"https://cdn.example.invalid/{n}.jpg" for n in range(4))
    said = _said(store, clock, _post(store, clock, *urls, platforms=("x",)), MediaChecker())
    assert "X allows 4 images in one post; this post has 5." in said
    assert OWN_ADDRESS in said
    assert "Outpost could not find the website cdn.example.invalid. Check the link for typos." in said


def test_an_edit_says_the_refused_link_too(store, clock):
    scheduler = Scheduler(store, clock=clock, actor=Actor.system("test"))
    scheduler.save_draft("p1", _post(store, clock, "https://cdn.example.com/a.jpg"))
    with pytest.raises(ValidationError) as refused:
        Scheduler(store, clock=clock, actor=Actor.system("test"), media_checker=MediaChecker()).edit(
            "p1", media_urls=("http://127.0.0.1:22/x.png",))
    assert [p.message for p in refused.value.problems] == [OWN_ADDRESS]
    assert store.get_post("p1").media_urls == ("https://cdn.example.com/a.jpg",)


def test_a_link_that_is_read_is_judged_by_what_it_holds_once_and_fetched_once(store, clock, media_host):
    HITS.clear()
    url = f"http://{media_host}/x.png"
    checker = MediaChecker(allow_hosts=[media_host])
    said = _said(store, clock, _post(store, clock, url, platforms=("instagram", "x", "threads")), checker)
    assert said == ["Instagram accepts JPEG images only; image 1 is a PNG. Upload the file instead of linking to "
                    "it, and Outpost will convert it to JPEG for Instagram."]
    assert HITS == ["/x.png"]          # three platforms, one fetch


def test_a_checker_that_does_not_read_each_link_leaves_the_guess(store, clock):
    """A script's own checker (any callable) adds its findings; the type guessed from the name still stands."""
    said = _said(store, clock, _post(store, clock, "https://cdn.example.com/x.png"), lambda post: [])
    assert said[0].startswith(GUESS)
