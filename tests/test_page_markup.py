"""What the API says is shown as text, never run as markup (issue 19, section 5). A clip's
title and hook, a transcript line (in storage, indexed), a search result, an answer and an
upload's file name are all ``<img src=x onerror=window.pwned=1>``; the page shows the text, makes
no element of it, and ``window.pwned`` stays undefined (nor does the browser ever ask for ``/x``).

The model's markup title is not grounded in the clip's words, so the picker replaces it (that is
asserted too); the title and hook the page then renders are written into the stored result, as
a title made of a transcript's markup would arrive."""
from __future__ import annotations

import json

from psycopg.types.json import Jsonb

from doubles.fake_openai import FakeOpenAI
from workers.pipeline.search import index
from workers.pipeline.services import build_ask_llm, build_llm

# fixtures, and the skip without chromium
from .test_page import PIPELINE_MS, browser, make_site, new_page, pytestmark  # noqa: F401

EVIL = "<img src=x onerror=window.pwned=1>"


def evil(reply: dict):
    """The scripted model, turned hostile: every title, hook and answer is markup."""
    if "clips" in reply:
        return ("json", {"clips": [{**clip, "title": EVIL, "hook": EVIL} for clip in reply["clips"]]})
    if "answer" in reply:
        return ("json", {**reply, "answer": EVIL})
    return None


def title_it(db) -> None:
    """The first clip's title and hook become markup in the stored result (the checkpoint is
    write-once: it is replaced whole, as an operator's restore would)."""
    row = db.execute("SELECT * FROM step_checkpoints WHERE step = 'clip_generation'").fetchone()
    output = row["output"]
    output["result"]["clips"][0].update({"title": EVIL, "hook": EVIL})
    with db.transaction():
        db.execute("DELETE FROM step_checkpoints WHERE video_id = %s AND step = 'clip_generation'",
                   (row["video_id"],))
        db.execute("INSERT INTO step_checkpoints (video_id, step, job_id, output, storage_keys, attempt, "
                   "worker_id, started_at, finished_at) VALUES (%s, 'clip_generation', %s, %s, %s, %s, %s, "
                   "%s, %s)", (row["video_id"], row["job_id"], Jsonb(output), row["storage_keys"],
                               row["attempt"], row["worker_id"], row["started_at"], row["finished_at"]))


def say_it_in_the_transcript(db, storage) -> None:
    """A transcript line that is markup, written to the transcript in storage and indexed."""
    row = db.execute("SELECT video_id, output ->> 'key' AS key FROM step_checkpoints "
                     "WHERE step = 'transcript'").fetchone()
    transcript = json.loads(storage.get_bytes(row["key"]))
    at = transcript["segments"][-1]["end"] + 1.0
    words = ["Say", *EVIL.split(), "twice."]
    transcript["segments"].append({"start": at, "end": at + len(words), "text": " ".join(words),
                                   "words": [{"word": f" {w}", "start": at + n, "end": at + n + 0.9}
                                             for n, w in enumerate(words)]})
    storage.delete(row["key"])  # objects are written once: this one is replaced
    assert storage.put_bytes(row["key"], json.dumps(transcript).encode())
    index.index_transcript(db, row["video_id"], transcript)


def test_markup_from_the_api_is_shown_as_text_and_never_runs(make_site, browser, media, settings, db):
    fake = FakeOpenAI().start()
    fake.chaos = evil
    try:
        model = settings.replace(openai_api_key="sk-test", openai_base_url=fake.base_url)
        site = make_site(llm=build_llm(model), services={"ask_llm": build_ask_llm(model)})
        page = new_page(browser, viewport={"width": 1000, "height": 900})
        page.goto(site.url + "/")
        page.set_input_files("#file", files=[{"name": EVIL, "mimeType": "video/mp4",
                                              "buffer": (media / "manifesto.mp4").read_bytes()}])
        assert page.locator("#file-name").inner_text() == EVIL
        page.get_by_label("At most").fill("2")
        page.get_by_role("button", name="Make clips").click()
        page.wait_for_selector(".clip h3", timeout=PIPELINE_MS)
        refused = page.locator(".clip h3").first.inner_text()
        assert EVIL not in refused and len(refused.split()) >= 4, refused  # "1." and 3+ words of the clip
        title_it(db)
        say_it_in_the_transcript(db, site.storage)
        # The page reads the transcript again, with the line (not from its cache: it may be kept an hour).
        page.context.new_cdp_session(page).send("Network.clearBrowserCache")
        page.reload()
        page.wait_for_selector("#transcript li")
        page.get_by_label("Search what was said").fill("twice")
        page.get_by_role("button", name="Search").click()
        page.wait_for_selector("#moments li")
        page.get_by_label("Ask about this video").fill("What should I say twice?")
        page.get_by_role("button", name="Ask", exact=True).click()
        page.wait_for_selector("#answer .reply")
        shown = {
            "upload name": page.locator("#video-title").inner_text(),
            "my videos": page.locator("#mine a").first.inner_text(),
            "title": page.locator(".clip h3").first.inner_text(),
            "hook": page.locator(".clip .hook").first.inner_text(),
            "transcript line": page.locator("#transcript li").last.inner_text(),
            "search result": page.locator("#moments li").first.inner_text(),
            "answer": page.locator("#answer .reply").inner_text(),
        }
        assert shown == {"upload name": EVIL, "my videos": EVIL, "title": f"1. {EVIL}", "hook": f"“{EVIL}”",
                         "transcript line": shown["transcript line"], "search result": shown["search result"],
                         "answer": EVIL}, shown
        assert EVIL in shown["transcript line"] and EVIL in shown["search result"], shown
        assert page.evaluate("() => window.pwned") is None
        assert page.locator("main img").count() == 0 and ("GET", "/x", 404) not in site.served
    finally:
        fake.stop()
