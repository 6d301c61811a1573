"""Saved hashtag groups (core.services.hashtag_groups) on every store (in memory, SQLite, PostgreSQL): who may do
what, what is refused in words, and that what is saved comes back the same."""
from __future__ import annotations

import threading

import pytest

from core.domain import Membership, Role, User, Workspace
from core.domain.errors import NotFoundError, PermissionDenied, ValidationError
from core.rules.permissions import Actor
from core.services import hashtag_groups as groups


@pytest.fixture
def team(store):
    ws = store.add_workspace(Workspace(name="Acme", id="ws_acme"))
    other = store.add_workspace(Workspace(name="Other", id="ws_other"))
    people = {}
    for role in Role:
        user = store.add_user(User(email=f"{role.value}@acme.test", id=f"user_{role.value}"))
        store.set_membership(Membership(user_id=user.id, workspace_id=ws.id, role=role))
        people[role] = Actor.of(store, user.id)
    outsider = store.add_user(User(email="out@other.test", id="user_out"))
    store.set_membership(Membership(user_id=outsider.id, workspace_id=other.id, role=Role.OWNER))
    people["outsider"] = Actor.of(store, outsider.id)
    return store, ws, other, people


def _messages(exc) -> list[str]:
    return [p.message for p in exc.value.problems]


def test_a_group_round_trips_with_its_tags_in_order_and_its_author(team, clock):
    store, ws, _, people = team
    made = groups.create_group(store, people[Role.EDITOR], ws.id, "  Spring   launch ", "spring, #Launch newin #spring")
    assert made.name == "Spring launch"
    assert made.hashtags == ("#spring", "#Launch", "#newin")          # normalised, the repeat kept once
    [read] = groups.list_groups(store, people[Role.VIEWER], ws.id)
    assert read == made and read.created_by == "user_editor"
    assert read.created_at == clock.now and read.updated_at == clock.now
    assert store.get_hashtag_group(made.id) == made


def test_groups_are_listed_by_name_and_only_in_their_workspace(team):
    store, ws, other, people = team
    for name in ("zoo", "Brand", "autumn"):
        groups.create_group(store, people[Role.OWNER], ws.id, name, "#a")
    groups.create_group(store, people["outsider"], other.id, "Theirs", "#b")
    assert [g.name for g in groups.list_groups(store, people[Role.EDITOR], ws.id)] == ["autumn", "Brand", "zoo"]
    assert [g.name for g in groups.list_groups(store, people["outsider"], other.id)] == ["Theirs"]


def test_rename_and_new_tags_are_saved_and_stamped(team, clock):
    store, ws, _, people = team
    made = groups.create_group(store, people[Role.EDITOR], ws.id, "Launch", "#launch")
    clock.advance(minutes=5)
    renamed = groups.update_group(store, people[Role.OWNER], ws.id, made.id, name="Big launch")
    assert renamed.name == "Big launch" and renamed.hashtags == ("#launch",)
    retagged = groups.update_group(store, people[Role.EDITOR], ws.id, made.id, hashtags="#new #launch")
    assert retagged.hashtags == ("#new", "#launch") and retagged.name == "Big launch"
    [read] = store.list_hashtag_groups(ws.id)
    assert read.updated_at == clock.now and read.created_at == made.created_at and read.created_by == "user_editor"


def test_a_name_is_taken_whatever_its_case_and_said_so(team):
    store, ws, other, people = team
    groups.create_group(store, people[Role.EDITOR], ws.id, "Launch", "#launch")
    second = groups.create_group(store, people[Role.EDITOR], ws.id, "Promo", "#promo")
    with pytest.raises(ValidationError) as exc:
        groups.create_group(store, people[Role.EDITOR], ws.id, "launch", "#other")
    assert _messages(exc) == ["There is already a hashtag group called 'launch'; choose another name."]
    with pytest.raises(ValidationError) as exc:
        groups.update_group(store, people[Role.EDITOR], ws.id, second.id, name="LAUNCH")
    assert "already a hashtag group called 'LAUNCH'" in _messages(exc)[0]
    assert [g.name for g in store.list_hashtag_groups(ws.id)] == ["Launch", "Promo"]   # nothing half-saved
    groups.create_group(store, people["outsider"], other.id, "Launch", "#x")           # another workspace may
    # renaming a group to its own name in another case is fine
    assert groups.update_group(store, people[Role.EDITOR], ws.id, second.id, name="PROMO").name == "PROMO"


def test_bad_names_and_tags_are_refused_all_at_once_in_words(team):
    store, ws, _, people = team
    editor = people[Role.EDITOR]
    with pytest.raises(ValidationError) as exc:
        groups.create_group(store, editor, ws.id, "   ", "")
    assert _messages(exc) == ["Give the hashtag group a name, such as 'Spring launch'.",
                              "A hashtag group needs at least one hashtag, such as #launch."]
    with pytest.raises(ValidationError) as exc:
        groups.create_group(store, editor, ws.id, "x" * 101, " ".join(f"#t{i}" for i in range(31)))
    assert _messages(exc) == ["A hashtag group's name can be at most 100 characters; this one has 101.",
                              "A hashtag group can hold at most 30 hashtags; this one has 31."]
    with pytest.raises(ValidationError) as exc:
        groups.create_group(store, editor, ws.id, "Fine", "#ok #not-a-tag")
    assert "'#not-a-tag' is not a hashtag" in _messages(exc)[0]
    assert groups.create_group(store, editor, ws.id, "y" * 100, " ".join(f"#t{i}" for i in range(30))).hashtags[-1] \
        == "#t29"                                                                       # the limits themselves pass
    assert len(store.list_hashtag_groups(ws.id)) == 1


def test_editors_and_owners_change_groups_every_member_reads_them(team):
    store, ws, _, people = team
    made = groups.create_group(store, people[Role.OWNER], ws.id, "Launch", "#launch")
    for role in (Role.APPROVER, Role.VIEWER):
        actor = people[role]
        assert groups.list_groups(store, actor, ws.id) == [made]
        for attempt in (lambda: groups.create_group(store, actor, ws.id, "Mine", "#mine"),
                        lambda: groups.update_group(store, actor, ws.id, made.id, name="Renamed"),
                        lambda: groups.delete_group(store, actor, ws.id, made.id)):
            with pytest.raises(PermissionDenied) as exc:
                attempt()
            assert str(exc.value) == (f"{role.value.capitalize()}s cannot create, rename or delete hashtag groups; "
                                      "ask an owner or editor.")
    assert store.list_hashtag_groups(ws.id) == [made]
    for role in (Role.OWNER, Role.EDITOR):
        actor = people[role]
        mine = groups.create_group(store, actor, ws.id, f"Mine {role.value}", "#mine")
        groups.update_group(store, actor, ws.id, mine.id, name=f"Renamed {role.value}")
        groups.delete_group(store, actor, ws.id, made.id if role == Role.OWNER else mine.id)
    assert [g.name for g in store.list_hashtag_groups(ws.id)] == ["Renamed owner"]


def test_an_outsider_neither_reads_nor_touches_a_workspaces_groups(team):
    store, ws, other, people = team
    made = groups.create_group(store, people[Role.OWNER], ws.id, "Launch", "#launch")
    outsider = people["outsider"]
    with pytest.raises(PermissionDenied, match="not a member of this workspace"):
        groups.list_groups(store, outsider, ws.id)
    # naming their own workspace does not reach another workspace's group either
    with pytest.raises(PermissionDenied, match="belongs to another workspace"):
        groups.update_group(store, outsider, other.id, made.id, name="Mine now")
    with pytest.raises(PermissionDenied, match="belongs to another workspace"):
        groups.delete_group(store, outsider, other.id, made.id)
    assert store.list_hashtag_groups(ws.id) == [made]


def test_deleting_a_group_removes_it_and_a_second_delete_says_it_is_gone(team):
    store, ws, _, people = team
    made = groups.create_group(store, people[Role.EDITOR], ws.id, "Launch", "#launch")
    assert groups.delete_group(store, people[Role.EDITOR], ws.id, made.id) == made
    assert store.list_hashtag_groups(ws.id) == []
    with pytest.raises(NotFoundError, match="someone may have deleted it"):
        groups.delete_group(store, people[Role.EDITOR], ws.id, made.id)
    with pytest.raises(NotFoundError):
        groups.update_group(store, people[Role.EDITOR], ws.id, made.id, name="Back")


def test_two_people_saving_the_same_name_at_once_get_one_group(team, kind):
    store, ws, _, people = team
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def save(name: str) -> None:
        barrier.wait()
        try:
            groups.create_group(store, people[Role.EDITOR], ws.id, name, "#launch")
            outcomes.append("saved")
        except ValidationError:
            outcomes.append("taken")

    threads = [threading.Thread(target=save, args=(n,)) for n in ("Launch", "LAUNCH")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == ["saved", "taken"]
    assert len(store.list_hashtag_groups(ws.id)) == 1


def test_adding_a_group_keeps_what_was_typed_and_repeats_nothing():
    assert groups.add_group_tags("#spring #Launch", ("#launch", "#newin", "#spring")) == "#spring #Launch #newin"
    assert groups.add_group_tags("", ("#a", "#b")) == "#a #b"
    assert groups.add_group_tags("launch, promo", ("#promo",)) == "#launch #promo"
    with pytest.raises(ValidationError):
        groups.add_group_tags("#half-typed", ("#a",))


def test_names_differing_only_in_non_ascii_case_are_the_same_group(team):
    """'Été' and 'été' (and 'Straße' / 'STRASSE') are one name on every store: SQLite's lower() folds only ASCII."""
    store, ws, _, people = team
    groups.create_group(store, people[Role.EDITOR], ws.id, "Été", "#summer")
    groups.create_group(store, people[Role.EDITOR], ws.id, "Straße", "#city")
    for clash in ("été", "STRASSE"):
        with pytest.raises(ValidationError):
            groups.create_group(store, people[Role.EDITOR], ws.id, clash, "#summer")
