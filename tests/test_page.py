"""The web page in a real browser: Playwright driving Debian's chromium (never a browser that
Playwright downloads), against the real app and a worker running the real pipeline.

A person submits a URL, watches the timeline, plays and seeks a clip (served with Range),
loads its captions, reads the transcript, seeks the video from it and finds a phrase; a
failed video shows its cause; the browser remembers its videos. Screenshots go to the test's
folder (and to ``$CLIPQUEUE_SCREENSHOTS`` when set: that is how img/ gets them)."""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from server import create_app
from workers.pipeline.services import build_services
from workers.pipeline.storage import LocalStorage
from workers.pipeline.table import STEPS, default_step_table
from workers.queue.worker import Worker

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt)")


@pytest.fixture
def site(database_url, db, settings, tmp_path):
    """The app on 127.0.0.1 (a real HTTP server) and a worker running the real steps."""
    run_settings = settings.replace(data_dir=tmp_path / "data", lease_seconds=30, clip_min_s=8, clip_max_s=20,
                                    max_retries=0)
    storage = LocalStorage(run_settings.data_dir / "storage")
    app = create_app({"settings": run_settings, "database_url": database_url, "storage": storage})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    services = {**build_services(run_settings), "storage": storage}
    worker = Worker(database_url, default_step_table(), steps=STEPS, settings=run_settings, services=services,
                    poll_interval=0.2)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    worker.stop(immediately=True)
    thread.join(30)
    server.shutdown()
    app.extensions["clipqueue"].pool.close()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def shoot(page, locator, name: str, folder: Path) -> None:
    path = folder / name
    page.locator(locator).screenshot(path=str(path))
    wanted = os.environ.get("CLIPQUEUE_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(wanted) / name)


def test_a_person_submits_a_url_watches_it_and_plays_the_clips(site, browser, media_server, media, tmp_path):
    url = media_server.add("/manifesto.mp4", media / "manifesto.mp4")
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    partial = []
    page.on("response", lambda r: partial.append(r.url) if r.status == 206 else None)
    page.goto(site + "/")
    page.get_by_label("Video URL").fill(url)
    page.get_by_label("At most").fill("3")
    page.get_by_role("button", name="Make clips").click()
    page.wait_for_selector("#timeline li[data-step=download]")
    assert page.locator("#timeline li").count() == 5
    shoot(page, "#video", "page-timeline.png", tmp_path)  # early: whatever step it is at
    page.wait_for_selector(".clip video", timeout=180_000)
    assert page.locator("#video-status").inner_text().startswith("Done")
    assert page.locator("#timeline li[data-state=done]").count() == 5
    shoot(page, "#clips", "page-clips.png", tmp_path)
    clips = page.locator(".clip")
    assert 1 <= clips.count() <= 3
    first = clips.first.locator("video")
    # It plays: currentTime advances (muted, so headless autoplay is allowed).
    page.evaluate("v => { v.muted = true; return v.play(); }", first.element_handle())
    page.wait_for_function("v => v.currentTime > 0.5", arg=first.element_handle(), timeout=30_000)
    # It seeks: the browser fetches the middle of the file with a Range request (206).
    media_url = first.get_attribute("src")
    page.evaluate("v => { v.currentTime = v.duration * 0.8; }", first.element_handle())
    page.wait_for_function("v => !v.seeking && v.currentTime > v.duration * 0.7", arg=first.element_handle(),
                           timeout=30_000)
    assert any(u.endswith(media_url) for u in partial), partial
    # Its captions load from the VTT.
    cues = page.evaluate("""v => new Promise((done) => {
        const track = v.textTracks[0]; track.mode = 'showing';
        const check = () => track.cues && track.cues.length ? done(track.cues.length) : setTimeout(check, 50);
        check(); })""", first.element_handle())
    assert cues >= 1
    # Downloads are offered: MP4, SRT, VTT.
    assert clips.first.get_by_role("link", name="SRT").get_attribute("href").endswith(".srt")
    # The transcript: find a phrase, click to seek the whole video.
    page.wait_for_selector("#transcript li")
    page.get_by_label("Find a phrase").fill("manifesto")
    assert "segment" in page.locator("#find-count").inner_text()
    hits = page.locator("#transcript li.hit")
    assert hits.count() >= 1 and page.locator("#transcript li.hidden").count() >= 1
    start = float(hits.first.locator("button").get_attribute("data-start"))
    page.evaluate("() => { document.getElementById('source').muted = true; }")
    hits.first.locator("button").click()
    page.wait_for_function("s => Math.abs(document.getElementById('source').currentTime - s) < 1.5", arg=start,
                           timeout=30_000)
    # Jump to the moment: the search finds where it is said, marks the words, seeks there.
    page.get_by_label("Jump to the moment").fill("holy alliance")
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector("#moments li")
    assert "moment" in page.locator("#moment-status").inner_text()
    found = page.locator("#moments li button").first
    assert [m.lower() for m in found.locator("mark").all_inner_texts()] == ["holy", "alliance"]
    at = float(found.get_attribute("data-start"))
    assert 20 < at < 35  # "... a holy alliance to exorcise this spectre" is said at about 27 s
    found.click()
    page.wait_for_function("s => Math.abs(document.getElementById('source').currentTime - s) < 1.5", arg=at,
                           timeout=30_000)
    shoot(page, "#transcript-section", "page-search.png", tmp_path)
    # My videos: kept in this browser, listed after a reload.
    page.reload()
    assert page.locator("#mine a").first.inner_text() == url


def test_a_failed_video_shows_its_cause_in_words(site, browser, media_server):
    page = browser.new_page()
    page.goto(site + "/")
    page.get_by_label("Video URL").fill(media_server.url("/missing.mp4"))
    page.get_by_role("button", name="Make clips").click()
    page.wait_for_selector("#video-failure:not([hidden])", timeout=60_000)
    assert "not" in page.locator("#video-failure").inner_text().lower()
    assert page.locator("#timeline li[data-state=failed]").count() == 1
    assert "Traceback" not in page.content()


def test_bad_input_gets_the_apis_message_and_the_page_works_at_phone_width(site, browser):
    page = browser.new_page(viewport={"width": 375, "height": 740})
    page.goto(site + "/")
    page.keyboard.press("Tab")  # keyboard first: the focus lands on the labelled URL field
    assert page.evaluate("() => document.activeElement.id") == "url"
    page.get_by_role("button", name="Make clips").click()
    assert page.locator("#form-error").inner_text() == "Enter the URL of a video, or pick a file."
    page.get_by_label("Video URL").fill("ftp://example.com/x.mp4")
    page.get_by_role("button", name="Make clips").click()
    page.wait_for_function("() => document.getElementById('form-error').textContent.includes('http')")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375  # nothing overflows sideways


def test_a_file_upload_interrupted_half_way_resumes_from_its_offset_and_finishes(site, browser, tmp_path):
    sample = Path(__file__).resolve().parent.parent / "samples" / "autoeditor_example.mp4"  # 3 MB: 3 chunks of 1 MB
    page = browser.new_page()
    patches, cut = [], []

    def route(request_route, request):
        if request.method == "PATCH":
            patches.append(int(request.headers["upload-offset"]))
            if len(patches) == 2 and not cut:  # the second chunk: the connection drops
                cut.append(patches[-1])
                request_route.abort("connectionreset")
                return
        request_route.continue_()

    page.route("**/public/uploads/**", route)
    heads = []
    page.on("request", lambda r: heads.append(r.url) if r.method == "HEAD" else None)
    page.goto(site + "/?chunk_mb=1")
    page.set_input_files("#file", str(sample))
    page.wait_for_selector("#timeline li", timeout=60_000)  # the upload finished: the video is on its way
    assert cut == [1024 * 1024] and heads  # the second chunk was cut, and the client asked where to resume
    assert patches == [0, 1024 * 1024, 1024 * 1024, 2 * 1024 * 1024]  # resumed at its offset, not from 0
    page.wait_for_selector(".clip video", timeout=180_000)
    assert page.locator("#mine a").first.inner_text() == "autoeditor_example.mp4"

