"""A person's own account: name, password change (which signs out every other browser), sign out elsewhere."""
from __future__ import annotations


import pytest

from core.domain.errors import ValidationError
from core.services import auth
from tests.page_harness import owner_world, page_opener


@pytest.fixture
def world(tmp_path, monkeypatch):
    with owner_world(tmp_path, monkeypatch) as (db, owner, ws):
        yield db, owner, ws


def test_changing_the_password_signs_out_every_other_browser_and_keeps_this_one(world, clock):
    db, owner, _ = world
    here = auth.start_session(db, owner.id, now=clock.now, user_agent="Firefox")
    laptop = auth.start_session(db, owner.id, now=clock.now, user_agent="Chrome")
    phone = auth.start_session(db, owner.id, now=clock.now, user_agent="Safari")
    ended = auth.change_password(db, owner.id, current="a long password", new="an even longer password",
                                 raw_id=here, now=clock.now)
    assert ended == 2
    assert auth.session_user(db, here, now=clock.now).id == owner.id
    assert auth.session_user(db, laptop, now=clock.now) is None
    assert auth.session_user(db, phone, now=clock.now) is None
    assert auth.authenticate(db, owner.email, "an even longer password").id == owner.id
    assert auth.authenticate(db, owner.email, "a long password") is None


@pytest.mark.parametrize("current, new, code", [
    ("not my password", "an even longer password", "wrong_password"),
    ("a long password", "a long password", "same_password"),
    ("a long password", "short", "password_short"),
])
def test_a_refused_password_change_changes_nothing(world, clock, current, new, code):
    db, owner, _ = world
    other = auth.start_session(db, owner.id, now=clock.now)
    with pytest.raises(ValidationError) as refused:
        auth.change_password(db, owner.id, current=current, new=new, raw_id=None, now=clock.now)
    assert refused.value.problems[0].code == code
    assert auth.authenticate(db, owner.email, "a long password").id == owner.id
    assert auth.session_user(db, other, now=clock.now) is not None


def test_sessions_list_marks_this_browser_and_hides_ended_ones(world, clock):
    db, owner, _ = world
    here = auth.start_session(db, owner.id, now=clock.now, user_agent="Firefox")
    gone = auth.start_session(db, owner.id, now=clock.now, user_agent="Old laptop")
    auth.end_session(db, gone, now=clock.now)
    clock.advance(minutes=5)
    auth.start_session(db, owner.id, now=clock.now, user_agent="Phone")
    auth.start_handoff(db, owner.id, now=clock.now)                # a sign-in in progress is not a browser
    rows = auth.open_sessions(db, owner.id, here, now=clock.now)
    assert [(r["browser"], r["current"]) for r in rows] == [("Phone", False), ("Firefox", True)]
    assert auth.sign_out_elsewhere(db, owner.id, here, now=clock.now) == 1    # the phone (the ticket ends too)
    assert [r["browser"] for r in auth.open_sessions(db, owner.id, here, now=clock.now)] == ["Firefox"]


def test_a_name_is_required_and_trimmed(world):
    db, owner, _ = world
    assert auth.rename(db, owner.id, "  Ada   Lovelace ").display_name == "Ada Lovelace"
    with pytest.raises(ValidationError, match="cannot be empty"):
        auth.rename(db, owner.id, "   ")
    assert db.get_user(owner.id).display_name == "Ada Lovelace"


def test_the_page_changes_the_password_and_says_so(world):
    db, owner, ws = world
    auth.start_session(db, owner.id, now=__import__("core.domain.timeutil", fromlist=["utcnow"]).utcnow())
    at = page_opener(db, ws.id, "../pages/profile.py")(owner)
    assert not at.exception
    assert at.title[0].value == "Your account"
    at.text_input[1].input("a long password")
    at.text_input[2].input("a brand new password")
    at.text_input[3].input("a brand new password typo")
    at.button[1].click().run()
    assert "The two new passwords are not the same." in [e.value for e in at.error]
    at.text_input[1].input("a long password")
    at.text_input[2].input("a brand new password")
    at.text_input[3].input("a brand new password")
    at.button[1].click().run()
    assert not at.exception
    assert any("Your password is changed." in s.value for s in at.success)
    assert auth.authenticate(db, owner.email, "a brand new password") is not None
