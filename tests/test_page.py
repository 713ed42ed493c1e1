"""The web page in a real browser: Playwright driving Debian's chromium (never a browser that
Playwright downloads), against the real app and a worker running the real pipeline.

A person submits a URL, watches the timeline, plays and seeks a clip (served with Range),
loads its captions, searches the transcript (lines as they type, moments on Search), asks a
question and plays its cited moment, and seeks the whole video (which has a poster); a failed
video shows its cause; an upload waits for "Make clips", is made with the options chosen
before it and is named by its file; every clip's player is its thumbnail's shape; the browser
remembers its videos; no request of the page's gets a 404 (favicon included). Screenshots go
to the test's folder (and to ``$CLIPQUEUE_SCREENSHOTS`` when set: that is how img/ gets them).
The fixtures here (``make_site``, ``site``, ``browser``) serve the other test_page_* modules."""
from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from server import create_app
from workers.pipeline.services import build_hooks, build_services
from workers.pipeline.storage import LocalStorage
from workers.pipeline.table import STEPS, default_step_table
from workers.queue.worker import Worker

from .conftest import BROWSER_SKIP, wait_for

CHROMIUM = "/usr/bin/chromium"
# Deadlines, not timings: the real pipeline on a busy 2-core machine can be slow; a correct page never fails for it.
PIPELINE_MS = 600_000  # a video through every step
WAIT_MS = 120_000      # anything else the page waits for (a search, an answer, a seek)
# Skipped without it, and said loudly at the end of the run (conftest.pytest_terminal_summary).
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=BROWSER_SKIP)


class Site:
    """The app on 127.0.0.1 (a real HTTP server) and a worker running the real steps.
    ``served`` lists every response the server gave: (method, path, status)."""

    def __init__(self, app, server, worker_args):
        self.app, self.server, self.worker_args = app, server, worker_args
        self.url = f"http://127.0.0.1:{server.server_port}"
        self.served: list[tuple[str, str, int]] = []
        self.worker = self.thread = None

    def start_worker(self) -> None:
        database_url, run_settings, services = self.worker_args
        self.worker = Worker(database_url, default_step_table(), steps=STEPS, settings=run_settings, services=services,
                             hooks=build_hooks(run_settings, services["storage"]), poll_interval=0.2)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)
        self.thread.start()

    def not_found(self) -> list[tuple[str, str, int]]:
        return [s for s in self.served if s[2] == 404]

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop(immediately=True)
            self.thread.join(30)
        self.server.shutdown()
        self.app.extensions["clipqueue"].pool.close()


@pytest.fixture
def make_site(database_url, db, settings, tmp_path):
    """make_site(worker=True, services=None (the app's), llm=None (the worker's), **settings)."""
    made = []

    def make(*, worker: bool = True, services: dict | None = None, llm=None, clock=None, **overrides) -> Site:
        run_settings = settings.replace(**{"data_dir": tmp_path / "data", "lease_seconds": 30, "clip_min_s": 8,
                                           "clip_max_s": 20, "max_retries": 0, **overrides})
        storage = LocalStorage(run_settings.data_dir / "storage")
        app = create_app({"settings": run_settings, "database_url": database_url, "storage": storage,
                          "services": services, "clock": clock})

        def logged(environ, start_response):
            def start(status, headers, exc_info=None):
                site.served.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], int(status.split()[0])))
                return start_response(status, headers, exc_info)
            return app(environ, start)

        server = make_server("127.0.0.1", 0, logged, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        services_ = {**build_services(run_settings), "storage": storage, **({"llm": llm} if llm else {})}
        site = Site(app, server, (database_url, run_settings, services_))
        site.storage = storage
        made.append(site)
        if worker:
            site.start_worker()
        return site

    yield make
    for site in made:
        site.close()


@pytest.fixture
def site(make_site):
    return make_site()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def new_page(browser, **options):
    page = browser.new_page(**options)
    page.set_default_timeout(WAIT_MS)
    return page


def shoot(page, locator, name: str, folder: Path) -> None:
    path = folder / name
    if locator is None:
        page.screenshot(path=str(path))  # what the window shows
    else:
        page.locator(locator).screenshot(path=str(path))
    wanted = os.environ.get("CLIPQUEUE_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(wanted) / name)


def watched(page) -> list[str]:
    """The page's script errors and console errors (a CSP refusal is one)."""
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def seeks_to(page, seconds: float) -> None:
    page.wait_for_function("s => Math.abs(document.getElementById('source').currentTime - s) < 1.5", arg=seconds)


def shapes(page) -> list[tuple[float, float, float]]:
    """Each clip player's (box width / height, its thumbnail's width / height, box height), once shaped."""
    page.wait_for_function("() => [...document.querySelectorAll('.clip video')].every(v => v.dataset.ratio)")
    return page.evaluate("""() => [...document.querySelectorAll('.clip video')].map(v => {
        const box = v.getBoundingClientRect();
        return [box.width / box.height, Number(v.dataset.ratio), box.height]; })""")


def test_a_person_submits_a_url_watches_it_and_plays_the_clips(site, browser, media_server, media, tmp_path):
    url = media_server.add("/manifesto.mp4", media / "manifesto.mp4")
    page = new_page(browser, viewport={"width": 1100, "height": 900})
    errors = watched(page)
    partial = []
    page.on("response", lambda r: partial.append(r.url) if r.status == 206 else None)
    page.goto(site.url + "/")
    page.get_by_label("Video URL").fill(url)
    page.get_by_label("At most").fill("3")
    page.get_by_role("button", name="Make clips").click()
    page.wait_for_selector("#timeline li[data-step=download]")
    assert page.locator("#timeline li").count() == 5
    assert page.locator("#video-options").inner_text() == \
        "Clips of 15–60 s, at most 3 · frame as the video · captions as files"  # the form sends all of them
    shoot(page, "#video", "page-timeline.png", tmp_path)  # early: whatever step it is at
    page.wait_for_selector(".clip video", timeout=PIPELINE_MS)
    assert page.locator("#video-status").inner_text().startswith("Done")
    assert page.locator("#timeline li[data-state=done]").count() == 5
    clips = page.locator(".clip")
    assert 1 <= clips.count() <= 3
    for box, thumbnail, _ in shapes(page):  # each player is its thumbnail's shape (16:9 here)
        assert abs(box - thumbnail) < 0.02 and abs(thumbnail - 16 / 9) < 0.02
    shoot(page, "#clips", "page-clips.png", tmp_path)
    first = clips.first.locator("video")
    # It plays: currentTime advances (muted, so headless autoplay is allowed).
    page.evaluate("v => { v.muted = true; return v.play(); }", first.element_handle())
    page.wait_for_function("v => v.currentTime > 0.5", arg=first.element_handle())
    # It seeks: the browser fetches the middle of the file with a Range request (206).
    media_url = first.get_attribute("src")
    page.evaluate("v => { v.currentTime = v.duration * 0.8; }", first.element_handle())
    page.wait_for_function("v => !v.seeking && v.currentTime > v.duration * 0.7", arg=first.element_handle())
    assert any(u.endswith(media_url) for u in partial), partial
    # Its captions load from the VTT.
    cues = page.evaluate("""v => new Promise((done) => {
        const track = v.textTracks[0]; track.mode = 'showing';
        const check = () => track.cues && track.cues.length ? done(track.cues.length) : setTimeout(check, 50);
        check(); })""", first.element_handle())
    assert cues >= 1
    # Downloads are offered: MP4, SRT, VTT.
    assert clips.first.get_by_role("link", name="SRT").get_attribute("href").endswith(".srt")
    # The whole video has a poster: one of its own frames, as big as the video.
    page.wait_for_selector("#transcript li")
    page.wait_for_function("() => document.getElementById('source').poster.startsWith('blob:')")
    poster = page.evaluate("""() => new Promise((done) => { const i = new Image();
        i.onload = () => done([i.naturalWidth, i.naturalHeight]);
        i.src = document.getElementById('source').poster; })""")
    assert poster == [320, 180]
    page.evaluate("() => { document.getElementById('source').muted = true; }")
    # One search box: as it is typed, the transcript keeps the lines with the words; click one to seek.
    search = page.get_by_label("Search what was said")
    search.fill("manifesto")
    assert re.fullmatch(r"\d+ lines? of the transcript with “manifesto”", page.locator("#find-count").inner_text())
    hits = page.locator("#transcript li.hit")
    assert hits.count() >= 1 and page.locator("#transcript li.hidden").count() >= 1
    start = float(hits.first.locator("button").get_attribute("data-start"))
    hits.first.locator("button").click()
    seeks_to(page, start)
    # On Search: the moments where it is said, its words marked; click one to play it.
    search.fill("holy alliance")
    search.press("Enter")
    page.wait_for_selector("#moments li")
    assert "moment" in page.locator("#moment-status").inner_text()
    found = page.locator("#moments li button").first
    assert [m.lower() for m in found.locator("mark").all_inner_texts()] == ["holy", "alliance"]
    at = float(found.get_attribute("data-start"))
    assert 20 < at < 35  # "... a holy alliance to exorcise this spectre" is said at about 27 s
    found.click()
    seeks_to(page, at)
    # Ask: the answer (the local backend quotes the passages) and its moments, which play.
    page.get_by_label("Ask about this video").fill("What is haunting Europe?")
    page.get_by_role("button", name="Ask", exact=True).click()
    cited = page.locator("#answer li button")
    cited.first.wait_for()
    assert any("haunting Europe" in text for text in cited.all_inner_texts())
    moment = cited.filter(has_text="haunting Europe").first
    at = float(moment.get_attribute("data-start"))
    moment.click()
    seeks_to(page, at)
    shoot(page, "#transcript-section", "page-search.png", tmp_path)
    # My videos: kept in this browser, listed after a reload.
    page.reload()
    assert page.locator("#mine a").first.inner_text() == url
    # No request of the page's was a 404: the favicon is the page's own, and it is served.
    wait_for(lambda: ("GET", "/static/favicon.svg", 200) in site.served, 30, message="the favicon")
    assert site.not_found() == [] and errors == []


def test_a_failed_video_shows_its_cause_in_words(site, browser, media_server):
    page = new_page(browser)
    page.goto(site.url + "/")
    page.get_by_label("Video URL").fill(media_server.url("/missing.mp4"))
    page.get_by_role("button", name="Make clips").click()
    page.wait_for_selector("#video-failure:not([hidden])")
    assert "not" in page.locator("#video-failure").inner_text().lower()
    assert page.locator("#timeline li[data-state=failed]").count() == 1
    assert "Traceback" not in page.content()


def test_bad_input_gets_the_apis_message_and_the_page_works_at_phone_width(site, browser):
    page = new_page(browser, viewport={"width": 375, "height": 740})
    page.goto(site.url + "/")
    page.keyboard.press("Tab")  # keyboard first: the focus lands on the labelled URL field
    assert page.evaluate("() => document.activeElement.id") == "url"
    page.get_by_role("button", name="Make clips").click()
    assert page.locator("#form-error").inner_text() == "Enter the URL of a video, or pick a file."
    page.get_by_label("Video URL").fill("ftp://example.com/x.mp4")
    page.get_by_role("button", name="Make clips").click()
    page.wait_for_function("() => document.getElementById('form-error').textContent.includes('http')")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375  # nothing overflows sideways


def test_an_upload_waits_for_make_clips_uses_the_options_chosen_and_resumes_from_its_offset(site, browser):
    sample = Path(__file__).resolve().parent.parent / "samples" / "autoeditor_example.mp4"  # 3 MB: 3 chunks of 1 MB
    page = new_page(browser)
    requests, patches, cut = [], [], []

    def route(request_route, request):
        if request.method == "PATCH":
            patches.append(int(request.headers["upload-offset"]))
            if len(patches) == 2 and not cut:  # the second chunk: the connection drops
                cut.append(patches[-1])
                request_route.abort("connectionreset")
                return
        request_route.continue_()

    page.route("**/public/uploads**", route)
    page.on("request", lambda r: requests.append(r.method) if "/public/uploads" in r.url else None)
    page.goto(site.url + "/?chunk_mb=1")
    page.set_input_files("#file", str(sample))
    # Picking a file chooses it, and nothing more: the options come first.
    assert page.locator("#file-name").inner_text() == "autoeditor_example.mp4"
    page.get_by_label("Frame").select_option("9:16")
    page.get_by_label("At most").fill("2")
    page.get_by_label("Shortest clip (s)").fill("5")
    assert requests == [] and page.locator("#upload-progress").is_hidden()
    page.get_by_role("button", name="Make clips").click()
    page.wait_for_selector("#timeline li")  # the upload finished: the video is on its way
    assert cut == [1024 * 1024] and "HEAD" in requests  # the second chunk was cut, and the client asked where
    assert patches == [0, 1024 * 1024, 1024 * 1024, 2 * 1024 * 1024]  # resumed at its offset, not from 0
    # Named by its file everywhere, made with the options chosen before the upload.
    assert page.locator("#video-title").inner_text() == "autoeditor_example.mp4"
    assert page.locator("#video-options").inner_text() == \
        "Clips of 5–60 s, at most 2 · frame 9:16 (vertical) · captions as files"
    page.wait_for_selector(".clip video", timeout=PIPELINE_MS)
    for box, thumbnail, height in shapes(page):  # the player is its thumbnail's shape, whatever that is
        assert abs(box - thumbnail) < 0.02 and height > 100
    assert page.locator("#mine a").first.inner_text() == "autoeditor_example.mp4"
