"""The store contract for issue 11's content: a post's first comment and a variant's thread and first comment
come back exactly as saved (in the posts.variants JSON and the posts.first_comment column), on every store."""
from __future__ import annotations

from dataclasses import replace

from core.domain import PostVariant
from core.domain.catalog import Platform

from tests.store_contract.world import add, make_post


def test_thread_and_first_comment_round_trip(world):
    store = world.store
    post = make_post(world, "post_thread", accounts=(world.ig, world.li), first_comment="Link in bio 👇 #spring",
                     variants={Platform.LINKEDIN: PostVariant(first_comment="Sign up: https://acme.test/s"),
                               Platform.X: PostVariant(thread=("One 🌱 1/3", "Two 2/3", "Three 3/3"),
                                                       first_comment="")})
    saved = store.add_post(post)
    got = store.get_post("post_thread")
    assert got == saved
    assert got.first_comment == "Link in bio 👇 #spring"
    assert got.variants[Platform.X].thread == ("One 🌱 1/3", "Two 2/3", "Three 3/3")
    assert got.variants[Platform.X].first_comment == ""           # "none here", not "the post's own"
    assert got.variants[Platform.LINKEDIN].first_comment == "Sign up: https://acme.test/s"
    assert got.variants[Platform.LINKEDIN].thread is None
    assert got.render(Platform.INSTAGRAM).first_comment == "Link in bio 👇 #spring"
    x = got.render(Platform.X)
    assert (x.text, x.thread, x.first_comment) == ("One 🌱 1/3", ("Two 2/3", "Three 3/3"), "")


def test_editing_the_first_comment_and_clearing_a_thread(world):
    store = world.store
    saved = store.add_post(make_post(world, "post_edit", first_comment="old",
                                     variants={Platform.X: PostVariant(thread=("a 1/2", "b 2/2"))}))
    edited = store.update_post(replace(saved, first_comment="", variants={Platform.X: PostVariant()}),
                               expected_version=saved.version)
    got = store.get_post("post_edit")
    assert got == edited and got.first_comment == "" and got.variants[Platform.X].thread is None
    assert store.list_posts(workspace_id=world.ws.id)[0].first_comment == ""


def test_a_post_without_either_reads_back_empty(world):
    got = world.store.get_post(add(world, "post_plain").id)
    assert got.first_comment == "" and got.render(Platform.INSTAGRAM).thread == ()
