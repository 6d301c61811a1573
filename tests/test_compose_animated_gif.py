"""The composer tells the person, before anything is saved, that Instagram would post an animated GIF's first frame
only (core.media.checks: a warning, the post may still be saved), and X keeps the animation. The composer lists every
core problem; nothing page-side decides this."""
from __future__ import annotations

from core.domain.catalog import Platform
from tests.test_compose_extras import template, world  # noqa: F401  (the composer's fixtures)
from tests.test_media_renditions import gif

WARNING = ("Instagram takes no animated GIFs: it would post the first frame only. Upload a video (MP4) to post the "
           "animation.")


def test_an_animated_gif_for_instagram_is_a_warning_before_saving_and_the_post_can_still_be_saved(world, monkeypatch):
    from pages import compose
    from pages.shared import media_library
    db, owner, ws, open_as, (x, ig, li) = world
    data = gif(3)

    def uploads(key):      # Streamlit's test runner cannot drive a file uploader: stored the way it would be
        stored = media_library().save(data, filename="Dance.gif", content_type="image/gif")
        return [stored.public_url], {stored.public_url: "data:image/gif;base64,AAAA"}, {stored.public_url: (40, 40)}

    monkeypatch.setattr(compose, "_uploads", uploads)
    at = open_as(owner, compose_mode="Save as draft")
    at.multiselect(key="compose_accounts").set_value([x.id, ig.id])
    at.text_area(key="compose_caption").input("Dance with us").run()
    assert not at.exception and not at.error
    [warning] = [w.value for w in at.warning if "Worth a look" in w.value]
    assert WARNING in warning
    at.button(key="compose_submit").click().run()
    assert not at.exception and not at.error
    [post] = db.list_posts(workspace_id=ws.id)
    assert post.render(Platform.INSTAGRAM).media_urls[0].endswith(".jpg")
    assert post.render(Platform.X).media_urls[0].endswith(".gif")
