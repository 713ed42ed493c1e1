"""The page on a phone (375 px wide) with a real-length URL (200 characters, a signed link's
query string with no place to break): nothing overflows sideways when the video has just
been submitted, while it runs, when it is done with clips (answer and moments shown) and when
it has failed. Long names wrap or are cut, with the whole text on hover (their title)."""
from __future__ import annotations

# fixtures, and the skip without chromium
from .test_page import PIPELINE_MS, browser, make_site, new_page, pytestmark, shoot  # noqa: F401

PHONE = {"width": 375, "height": 740}


def long_url(media_server, name: str, media=None) -> str:
    path = f"/media/2026/11/conference-keynote-open-video-tools-{name}.mp4"
    url = media_server.add(path, media) if media else media_server.url(path)
    query = "?expires=1798761600&signature="
    url += query + ("9f8e7d6c5b4a3210" * 20)[:200 - len(url) - len(query)]
    assert len(url) == 200
    return url


def fits(page) -> None:
    sizes = page.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]")
    assert sizes[0] <= sizes[2] and sizes[1] <= sizes[2], sizes


def test_nothing_overflows_at_375_px_with_a_200_character_url(make_site, browser, media_server, media, tmp_path):
    site = make_site(worker=False)  # the worker starts once "submitted" is seen
    url = long_url(media_server, "final-cut-v2", media / "manifesto.mp4")
    page = new_page(browser, viewport=PHONE)
    page.goto(site.url + "/")
    page.get_by_label("Video URL").fill(url)
    fits(page)
    page.get_by_label("At most").fill("2")
    page.get_by_role("button", name="Make clips").click()
    page.wait_for_selector("#timeline li[data-step=download][data-state=queued]")
    assert page.locator("#video-status").inner_text().startswith("Waiting")
    title = page.locator("#video-title")
    assert title.get_attribute("title") == url and title.inner_text() == url  # cut on screen, whole on hover
    assert page.locator("#mine a").first.get_attribute("title") == url
    fits(page)  # submitted
    site.start_worker()
    page.wait_for_selector("#timeline li[data-state=running]")
    fits(page)  # running
    page.wait_for_selector(".clip video", timeout=PIPELINE_MS)
    page.wait_for_selector("#transcript li")
    page.get_by_label("Search what was said").fill("holy alliance")
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector("#moments li")
    page.get_by_label("Ask about this video").fill("What is haunting Europe?")
    page.get_by_role("button", name="Ask", exact=True).click()
    page.wait_for_selector("#answer li")
    fits(page)  # done, with clips, moments and an answer
    page.set_viewport_size({"width": 375, "height": 1000})
    page.evaluate("() => document.getElementById('video').scrollIntoView()")
    shoot(page, None, "page-phone.png", tmp_path)  # the top of the video: its name, options, steps, a clip
    missing = long_url(media_server, "gone-missing")  # nothing is served there: the video fails
    page.get_by_label("Video URL").fill(missing)
    page.get_by_role("button", name="Make clips").click()
    page.wait_for_selector("#video-failure:not([hidden])")
    assert page.locator("#video-title").get_attribute("title") == missing
    fits(page)  # failed
    page.locator("#video").screenshot(path=str(tmp_path / "page-phone-failed.png"))
    assert site.not_found() == []
