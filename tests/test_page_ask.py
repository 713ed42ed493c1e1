"""Ask on the page against an OpenAI-compatible server with scripted replies (the network
boundary we do not own): the model's answer with its cited moment, which plays; then the
API's refusals in its own words: the model down (503), the model answering nonsense (502),
too many questions this minute (429), each with when to ask again."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from doubles.fake_openai import FakeOpenAI
from workers.pipeline.services import build_ask_llm

# fixtures, and the skip without chromium
from .test_page import PIPELINE_MS, browser, make_site, new_page, pytestmark, seeks_to  # noqa: F401

NOON = datetime(2026, 11, 22, 12, 0, 15, tzinfo=timezone.utc)  # 45 s before the next minute's questions


def answered(page) -> None:
    """The question's request is over: the button, disabled while it runs, is back."""
    page.wait_for_function("() => !document.getElementById('ask-button').disabled")


def test_an_answer_plays_its_moment_and_refusals_say_why_and_when(make_site, browser, media_server, media, settings):
    fake = FakeOpenAI().start()
    try:
        llm = build_ask_llm(settings.replace(openai_api_key="sk-test", openai_base_url=fake.base_url))
        site = make_site(services={"ask_llm": llm}, clock=lambda: NOON, ask_per_minute=3)
        page = new_page(browser, viewport={"width": 1000, "height": 900})
        page.goto(site.url + "/")
        page.get_by_label("Video URL").fill(media_server.add("/manifesto.mp4", media / "manifesto.mp4"))
        page.get_by_label("At most").fill("2")
        page.get_by_role("button", name="Make clips").click()
        page.wait_for_selector("#transcript li", timeout=PIPELINE_MS)
        question, ask = page.get_by_label("Ask about this video"), page.get_by_role("button", name="Ask", exact=True)
        error = page.locator("#ask-error")
        # 1. The model answers and cites a passage (the fake quotes its first words): it plays.
        question.fill("What is haunting Europe?")
        ask.click()
        answered(page)
        assert page.locator("#answer .reply").inner_text() == "As the video says."
        cited = page.locator("#answer li button")
        assert cited.count() == 1 and error.is_hidden()
        page.evaluate("() => { document.getElementById('source').muted = true; }")
        at = float(cited.get_attribute("data-start"))
        cited.click()
        seeks_to(page, at)
        # 2. The model is down: 503, said in words, with when to try again.
        fake.chaos = lambda reply: ("status", 503)
        ask.click()
        answered(page)
        assert re.fullmatch(r"The language model is unavailable; ask again later \(you can ask again in \d+ s\)",
                            error.inner_text())
        # 3. The model answers with no valid JSON: 502, said in words; the last answer is kept.
        fake.chaos = lambda reply: ("text", "Sure! The answer is Europe.")
        ask.click()
        answered(page)
        assert error.inner_text().endswith("; the question was not answered") and error.is_visible()
        assert page.locator("#answer .reply").inner_text() == "As the video says."
        # 4. A fourth question this minute: 429, and the seconds left in the minute.
        fake.chaos = None
        ask.click()
        answered(page)
        assert error.inner_text() == "At most 3 questions a minute per video; ask again in 45 s"
        assert ask.is_enabled() and site.not_found() == []
    finally:
        fake.stop()
