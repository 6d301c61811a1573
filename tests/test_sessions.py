"""Staying signed in: sessions (expiry, touch, revocation, rotation through the one-time handoff), the brake on
guessing passwords (core.services.auth, on the controllable clock), and the dashboard's cookie routes (app.py)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core.domain.timeutil import utcnow
from core.infra.settings import Settings
from core.services import auth
from core.store import InMemoryPostStore

PASSWORD = "correct horse battery"
POLICY = auth.SessionPolicy(idle=timedelta(days=14), absolute=timedelta(days=30))


@pytest.fixture
def owner(store):
    user, _ = auth.create_owner(store, email="casey@example.com", password=PASSWORD)
    return user


# ---------------------------------------------------------------- sessions

def test_a_session_lasts_until_idle_or_absolute_expiry(store, clock, owner):
    raw = auth.start_session(store, owner.id, now=clock.now, policy=POLICY)
    assert store.get_session(raw) is None                        # only the hash is stored
    assert auth.session_user(store, raw, now=clock.now, policy=POLICY) == owner
    for _ in range(2):                                            # used every 13 days: still signed in at day 26 ...
        clock.advance(days=13)
        assert auth.session_user(store, raw, now=clock.now, policy=POLICY) == owner
    clock.advance(days=4, seconds=1)                              # ... but never past 30 days
    assert auth.session_user(store, raw, now=clock.now, policy=POLICY) is None


def test_an_unused_session_ends_after_the_idle_limit(store, clock, owner):
    raw = auth.start_session(store, owner.id, now=clock.now, policy=POLICY)
    clock.advance(days=14)
    assert auth.session_user(store, raw, now=clock.now, policy=POLICY) is None
    assert auth.session_user(store, "not-a-session", now=clock.now, policy=POLICY) is None
    assert auth.session_user(store, None, now=clock.now, policy=POLICY) is None


def test_last_seen_is_written_at_most_once_a_minute(store, clock, owner):
    raw = auth.start_session(store, owner.id, now=clock.now, policy=POLICY)
    start = clock.now
    clock.advance(seconds=59)
    auth.session_user(store, raw, now=clock.now, policy=POLICY)
    assert store.get_session(auth.session_hash(raw)).last_seen_at == start
    clock.advance(seconds=1)
    auth.session_user(store, raw, now=clock.now, policy=POLICY)
    assert store.get_session(auth.session_hash(raw)).last_seen_at == clock.now


def test_sign_out_ends_the_session_everywhere_it_is_used(store, clock, owner):
    raw = auth.start_session(store, owner.id, now=clock.now, policy=POLICY)
    assert auth.end_session(store, raw, now=clock.now) is True
    assert auth.session_user(store, raw, now=clock.now, policy=POLICY) is None   # every tab holding it
    assert auth.end_session(store, raw, now=clock.now) is False
    assert auth.end_session(store, None, now=clock.now) is False


def test_a_handoff_is_traded_once_for_a_fresh_session_and_ends_the_old_one(store, clock, owner):
    old = auth.start_session(store, owner.id, now=clock.now, policy=POLICY)
    handoff = auth.start_handoff(store, owner.id, now=clock.now)
    assert auth.session_user(store, handoff, now=clock.now, policy=POLICY) is None   # never works as a cookie
    new = auth.adopt_handoff(store, handoff, now=clock.now, policy=POLICY, previous=old)
    assert new and new not in (old, handoff)
    assert auth.session_user(store, new, now=clock.now, policy=POLICY) == owner
    assert auth.session_user(store, old, now=clock.now, policy=POLICY) is None       # rotated out
    assert auth.adopt_handoff(store, handoff, now=clock.now, policy=POLICY) is None  # used
    late = auth.start_handoff(store, owner.id, now=clock.now)
    clock.advance(minutes=2)
    assert auth.adopt_handoff(store, late, now=clock.now, policy=POLICY) is None     # expired
    assert auth.adopt_handoff(store, None, now=clock.now, policy=POLICY) is None


# ---------------------------------------------------------------- the brake on guessing

def test_repeated_failures_slow_down_then_pause_one_email(store, clock, owner):
    def attempt(password="wrong password!", email="casey@example.com"):
        try:
            return auth.sign_in(store, email, password, now=clock.now)
        except auth.SignInRefused as exc:
            return str(exc)

    # Rows: failure count -> what the person reads.
    assert attempt() == "That email and password do not match an account."                       # 1
    assert attempt() == "That email and password do not match an account."                       # 2
    assert attempt().endswith("Too many attempts: try again in 30 seconds.")                      # 3: slowed
    assert attempt(PASSWORD) == "Too many attempts: try again in 30 seconds."    # even the right password waits
    clock.advance(seconds=30)
    attempt()                                                                                     # 4
    clock.advance(seconds=30)
    attempt()                                                                                     # 5
    clock.advance(seconds=30)
    assert attempt().endswith("Too many attempts: try again in 5 minutes.")                       # 6: paused
    clock.advance(minutes=1, seconds=1)
    assert attempt(PASSWORD) == "Too many attempts: try again in 4 minutes."
    assert attempt(PASSWORD, email="someone@else.test") == "That email and password do not match an account."
    clock.advance(minutes=4)
    assert attempt(PASSWORD) == owner                                      # the pause is over: the right one works
    assert store.get_sign_in_failures("casey@example.com") is None        # and the count starts again
    assert attempt() == "That email and password do not match an account."


def test_failures_are_forgotten_after_a_quiet_hour(store, clock, owner):
    for _ in range(2):
        with pytest.raises(auth.SignInRefused):
            auth.sign_in(store, "Casey@Example.com", "nope nope nope", now=clock.now)
    clock.advance(hours=1)
    with pytest.raises(auth.SignInRefused) as refused:
        auth.sign_in(store, "casey@example.com", "nope nope nope", now=clock.now)
    assert refused.value.wait is None
    assert store.get_sign_in_failures("casey@example.com").failures == 1


# ---------------------------------------------------------------- the cookie routes

URL = "http://127.0.0.1:8599"


@pytest.fixture
def web():
    import app
    db = InMemoryPostStore()
    settings = Settings(dashboard_url=URL)
    client = TestClient(Starlette(routes=app.session_routes(lambda: db, lambda: settings)), base_url=URL)
    user, _ = auth.create_owner(db, email="casey@example.com", password=PASSWORD)
    return client, db, user


def test_the_session_route_sets_an_httponly_lax_cookie_and_goes_to_the_page_asked_for(web):
    client, db, user = web
    handoff = auth.start_handoff(db, user.id, now=utcnow())
    answer = client.post("/auth/session", data={"handoff": handoff, "next": "/accounts"}, headers={"Origin": URL},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/accounts"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{auth.COOKIE_NAME}=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie                                             # http: a Secure cookie would be lost
    raw = answer.cookies[auth.COOKIE_NAME]
    assert auth.session_user(db, raw, now=utcnow()) == user
    again = client.post("/auth/session", data={"handoff": handoff, "next": "/accounts"}, headers={"Origin": URL},
                        follow_redirects=False)
    assert again.headers["location"] == "/" and "set-cookie" not in again.headers   # a handoff works once


@pytest.mark.parametrize("next_path, lands", [
    ("/accounts", "/accounts"),
    ("/?code=abc&state=xyz", "/?code=abc&state=xyz"),     # back from a consent page
    ("https://evil.test/", "/"),                          # never off the dashboard
    ("//evil.test/", "/"),
    ("", "/"),
])
def test_after_sign_in_only_the_dashboards_own_pages(web, next_path, lands):
    client, db, user = web
    handoff = auth.start_handoff(db, user.id, now=utcnow())
    answer = client.post("/auth/session", data={"handoff": handoff, "next": next_path}, headers={"Origin": URL},
                         follow_redirects=False)
    assert answer.headers["location"] == lands


@pytest.mark.parametrize("route", ["/auth/session", "/auth/sign-out"])
def test_the_routes_take_only_posts_from_the_dashboard_itself(web, route):
    client, db, user = web
    assert client.get(route, follow_redirects=False).status_code == 405
    for origin in (None, "https://evil.test", "http://localhost:8599"):
        headers = {"Origin": origin} if origin else {}
        answer = client.post(route, data={"handoff": auth.start_handoff(db, user.id, now=utcnow())},
                             headers=headers, follow_redirects=False)
        assert answer.status_code == 403 and "set-cookie" not in answer.headers
        assert "Open Outpost at http://127.0.0.1:8599" in answer.text


def test_sign_out_revokes_the_session_and_clears_the_cookie(web):
    client, db, user = web
    raw = auth.start_session(db, user.id, now=utcnow())
    client.cookies.set(auth.COOKIE_NAME, raw)
    answer = client.post("/auth/sign-out", headers={"Origin": URL}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert f'{auth.COOKIE_NAME}=""' in answer.headers["set-cookie"] and "Max-Age=0" in answer.headers["set-cookie"]
    assert auth.session_user(db, raw, now=utcnow()) is None


def test_over_https_the_cookie_is_secure():
    import app
    db = InMemoryPostStore()
    user, _ = auth.create_owner(db, email="casey@example.com", password=PASSWORD)
    settings = Settings(dashboard_url="https://outpost.example.com")
    client = TestClient(Starlette(routes=app.session_routes(lambda: db, lambda: settings)),
                        base_url="https://outpost.example.com")
    answer = client.post("/auth/session", data={"handoff": auth.start_handoff(db, user.id, now=utcnow())},
                         headers={"Origin": "https://outpost.example.com"}, follow_redirects=False)
    assert "Secure" in answer.headers["set-cookie"]


# ---------------------------------------------------------------- the sign-in form (app.py, AppTest: no cookies)

@pytest.fixture
def signed_out(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from streamlit.runtime.pages_manager import PagesManager

    from pages import shared
    # As app.py tells the server at start: routing is st.navigation's, never the old pages/ directory mode
    # (AppTest resets that flag before every run, and a rerun would then run pages/posts.py on its own).
    original_init = PagesManager.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False
    monkeypatch.setattr(PagesManager, "__init__", init)
    monkeypatch.setenv("OUTPOST_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    shared.settings.clear()
    shared.store.clear()
    db = shared.store()
    auth.create_owner(db, email="casey@example.com", password=PASSWORD)

    def open_app():
        return AppTest.from_file("../app.py", default_timeout=30).run()

    yield db, open_app
    shared.store.clear()
    shared.settings.clear()


def _submit(at, email, password):
    at.text_input(key="signin_email").input(email)
    at.text_input(key="signin_password").input(password)
    next(b for b in at.button if b.label == "Sign in").click()
    return at.run()


def test_without_a_session_the_dashboard_shows_only_the_sign_in_form(signed_out):
    _, open_app = signed_out
    at = open_app()
    assert not at.exception
    assert [s.value for s in at.subheader] == ["Sign in"]
    assert not at.sidebar.selectbox                         # no workspace, no pages: nothing to see before signing in


def test_a_tab_signed_out_elsewhere_shows_no_empty_sidebar(signed_out):
    _, open_app = signed_out
    at = open_app()
    styles = [h.proto.body for h in at.get("html") if "<style>" in h.proto.body]
    assert any('[data-testid="stSidebar"]' in body and "display:none" in body for body in styles)


def test_wrong_passwords_are_slowed_then_paused_and_the_form_says_so(signed_out):
    _, open_app = signed_out
    at = open_app()
    _submit(at, "casey@example.com", "not the password")
    assert [e.value for e in at.error] == ["That email and password do not match an account."]
    _submit(at, "casey@example.com", "not the password")
    _submit(at, "casey@example.com", "not the password")
    assert at.error[0].value.endswith("Too many attempts: try again in 30 seconds.")
    _submit(at, "casey@example.com", PASSWORD)              # the right one waits too
    assert at.error[0].value.startswith("Too many attempts: try again in")
    assert not at.exception


def test_the_right_password_hands_a_one_time_id_to_the_session_route(signed_out):
    import re
    db, open_app = signed_out
    at = _submit(open_app(), "casey@example.com", PASSWORD)
    assert not at.exception and not at.error
    [snippet] = [h.proto.body for h in at.get("html") if "/auth/session" in h.proto.body]
    assert 'action="/auth/session"' in snippet and 'name="next" value="/"' in snippet
    handoff = re.search(r'name="handoff" value="([^"]+)"', snippet).group(1)
    raw = auth.adopt_handoff(db, handoff, now=utcnow())
    assert auth.session_user(db, raw, now=utcnow()).email == "casey@example.com"


def test_the_sign_up_form_is_told_every_problem_at_once_and_nothing_is_stored():
    from core.domain.errors import ValidationError
    from core.services import auth
    from core.store import InMemoryPostStore
    db = InMemoryPostStore()
    with pytest.raises(ValidationError) as refused:
        auth.create_owner(db, email="", password="short", workspace_name="", timezone_name="Mars/Base")
    assert {p.field for p in refused.value.problems} == {"password", "email", "name", "timezone"}
    assert "Enter an email address." in [p.message for p in refused.value.problems]
    assert not db.list_workspaces() and not auth.has_users(db)
