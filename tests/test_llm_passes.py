"""The LLM path of clip_lookup through the real openai SDK against a scripted
OpenAI-compatible server on 127.0.0.1: two passes over a 2-hour transcript (the calls, the
tokens, clips spread over the video), and a model's clips that break each editor's rule,
repaired or refused."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from doubles.fake_openai import FakeOpenAI
from workers.pipeline.clips.choosing import Band
from workers.pipeline.clips.sentences import split
from workers.pipeline.llm.clip_prompt import transcript_lines
from workers.pipeline.llm.openai_compat import OpenAILLM
from workers.pipeline.llm.shortlist import PER_CLIP
from workers.pipeline.steps.clip_lookup import LONG_S, choose

FIXTURE = json.loads((Path(__file__).parent / "data" / "content_types.json").read_text())


@pytest.fixture
def fake():
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def llm(fake):
    return OpenAILLM(api_key="sk-test", base_url=fake.base_url, timeout=5, sleep=lambda s: None)


def two_hours() -> dict:
    """The fixture's real transcripts one after another, 2 s apart, until two hours are full."""
    segments, t = [], 0.0
    while t < 7200:
        for item in FIXTURE.values():
            words = [w for s in item["segments"] for w in s["words"]]
            for s in item["segments"]:
                shifted = [{**w, "start": round(w["start"] + t, 3), "end": round(w["end"] + t, 3)} for w in s["words"]]
                segments.append({**s, "id": len(segments), "start": shifted[0]["start"], "end": shifted[-1]["end"],
                                 "words": shifted})
            t += words[-1]["end"] + 2.0
    return {"duration": t, "segments": segments}


def test_a_long_transcript_is_read_in_two_passes_with_few_calls_and_tokens(fake, llm):
    fake.count_tokens = True
    transcript = two_hours()
    looked = choose(llm, transcript, "interview", Band(15, 60), 5)
    calls = [r for r in fake.requests if r["path"].endswith("/chat/completions")]
    assert looked["calls"] == len(calls) == PER_CLIP * 5  # one call per shortlisted window, no more
    assert all(b - a <= 95 for a, b in looked["windows"])  # each about 90 s, on sentence edges
    # tokens: the windows and the rules, a fraction of the transcript read whole
    whole = len(transcript_lines(split(transcript["segments"]))) // 4
    assert looked["usage"]["prompt_tokens"] == sum(sum(len(m["content"]) for m in r["body"]["messages"]) // 4
                                                   for r in calls)
    assert looked["usage"]["prompt_tokens"] < 0.4 * whole
    # every window sent is a slice of the transcript, with the rules spelled out
    prompt = calls[0]["body"]["messages"]
    assert "never end on a question whose answer is outside it" in prompt[0]["content"]
    assert "3 to 10 words" in prompt[0]["content"] and "[" in prompt[1]["content"]
    # the clips spread over the video: one in each fifth of it at least for four fifths
    clips = looked["clips"]
    assert len(clips) == 5
    assert len({int(c["start"] // (transcript["duration"] / 5)) for c in clips}) >= 4
    assert all(c["title"] and c["title"] != "Moment 1" and c["hook"] != "Listen to this" for c in clips)


def test_a_short_transcript_is_read_whole_in_one_call(fake, llm):
    item = FIXTURE["manifesto.mp4"]
    assert item["segments"][-1]["end"] < LONG_S
    looked = choose(llm, {"duration": 88.0, "segments": item["segments"]}, "audiobook", Band(10, 60), 3)
    assert looked["calls"] == 1 and looked["windows"] == 1 and looked["clips"]


# ---------------------------------------------------------------- a model that breaks the rules
LINES = [  # (seconds of silence before it, sentence)
    (0.2, "Welcome to the show, it is good to have you here with us today."),
    (0.4, "Where are the radios made these days?"),
    (0.3, "Every radio is made in an old shoe factory in Leeds."),
    (0.4, "Eleven people build them by hand, one at a time."),
    (0.4, "A factory overseas would be cheaper and a lot worse."),
    (1.2, "Why does your radio have no screen at all?"),
    (0.3, "We built one with a screen and it broke first."),
    (0.4, "So we decided to drop the screen."),
    (0.4, "Drop it."),
    (4.0, "For instance, the knobs are all made of steel."),
    (0.4, "And so every part can be replaced with one screwdriver."),
    (0.4, "The screws are standard and cheap to buy anywhere."),
    (2.0, "Hm."), (2.5, "Yes."), (2.5, "Right."), (2.5, "Okay."),
    (2.0, "Thanks for listening to the show today, goodbye everyone."),
]


def scripted_talk() -> dict:
    """Whisper-like segments of LINES: words 0.35 s long, 0.05 s apart."""
    segments, t = [], 0.0
    for n, (gap, text) in enumerate(LINES):
        t += gap
        words = []
        for word in text.split():
            words.append({"word": word, "start": round(t, 3), "end": round(t + 0.35, 3), "space": True,
                          "probability": 0.95})
            t += 0.4
        segments.append({"id": n, "start": words[0]["start"], "end": words[-1]["end"], "text": text, "words": words})
    return {"duration": round(t + 1, 3), "segments": segments}


def ask(fake, llm, first: int, last: int, **fields) -> dict:
    """clip_lookup on the scripted talk when the model cites sentences first..last."""
    talk = scripted_talk()
    texts = [text for _, text in LINES]
    cite = {"start_segment": first, "end_segment": last, "first_words": " ".join(texts[first].split()[:6]),
            "last_words": " ".join(texts[last].split()[-6:]), "title": "Radios made by hand in Leeds",
            "hook": texts[first], "reason": "the model liked it", "score": 0.9, **fields}
    fake.script = [("json", {"clips": [cite]})]
    return choose(llm, talk, "interview", Band(5, 30), 1)


def test_an_answer_without_its_question_gets_its_question(fake, llm):
    [clip] = ask(fake, llm, 2, 4)["clips"]
    assert clip["text"].startswith("Where are the radios made") and clip["text"].endswith("a lot worse.")
    assert "took in the question its answer needs" in clip["repairs"]


def test_a_question_at_the_end_gets_its_answer_and_a_thought_its_payoff(fake, llm):
    [clip] = ask(fake, llm, 3, 5)["clips"]
    assert clip["text"].endswith("drop the screen. Drop it.")  # the answer, to its last line
    [clip] = ask(fake, llm, 6, 7)["clips"]  # stops one line before the payoff
    assert clip["text"].endswith("Drop it.") and "took in the line that completes its thought" in clip["repairs"]


def test_dead_air_inside_a_clip_is_cut_out(fake, llm):
    [clip] = ask(fake, llm, 7, 10)["clips"]  # across the 4 s silence after "Drop it."
    assert clip["text"].endswith("Drop it.") and "steel" not in clip["text"]
    assert any(r.startswith("cut at a silence of 4.0 s") for r in clip["repairs"])


def test_a_start_that_leans_on_what_came_before_is_moved_or_cut(fake, llm):
    [clip] = ask(fake, llm, 9, 11)["clips"]  # "For instance" (its referent is across dead air)
    assert clip["text"].startswith("every part can be replaced")  # and "And so" is cut off at the word
    assert clip["start"] >= clip["words"][0]["start"] - 0.25


def test_a_clip_with_too_little_speech_is_refused_and_the_offline_picks_stand_in(fake, llm):
    looked = ask(fake, llm, 12, 15)
    assert looked["refused"] and "too little speech" in looked["refused"][0]["why"]
    assert looked["fallback"].startswith("offline") and looked["clips"]
    assert all("Hm." not in c["text"] for c in looked["clips"])


@pytest.mark.parametrize("title,source", [("Radios made by hand in Leeds", "model"),
                                          ("So, radios made by hand in Leeds\u2026", "repaired"),
                                          ("Amazing", "offline"), ("Why Apple fears this little gadget", "offline")])
def test_titles_are_kept_repaired_or_replaced_and_hooks_must_be_lines_of_the_clip(fake, llm, title, source):
    [clip] = ask(fake, llm, 1, 4, title=title, hook="You will not believe what happens next")["clips"]
    assert clip["title_source"] == source
    assert 3 <= len(clip["title"].split()) <= 10 and not clip["title"].endswith("\u2026")
    if source == "model":
        assert clip["title"] == title
    assert clip["hook"] != "You will not believe what happens next" and clip["hook"].rstrip(".?") in clip["text"]
