"""Units of meaning on synthetic transcripts: sentence units at their limits (a run-on cut
at its last clause edge, a pause of exactly the threshold), questions, answers and leaning
starts, the speech rules, speaker turns from voice prints made from synthetic audio, and
the offline picks keeping an editor's rules."""
from __future__ import annotations

import pytest

from workers.pipeline.clips.choosing import Band, resolve
from workers.pipeline.clips.meaning import Structure, is_question, leaning
from workers.pipeline.clips.rules import Rules, Speech
from workers.pipeline.clips.sentences import MAX_UNIT_S, PAUSE_S, split
from workers.pipeline.llm.local import LocalLLM


def timed(*spans):
    """One segment of words given as (word, start, end)."""
    words = [{"word": w, "start": a, "end": b, "space": True} for w, a, b in spans]
    return [{"id": 0, "start": words[0]["start"], "end": words[-1]["end"], "text": " ".join(w for w, _, _ in spans),
             "words": words}]


@pytest.mark.parametrize("gap,closes", [(PAUSE_S, True), (PAUSE_S - 0.001, False), (PAUSE_S + 0.001, True)])
def test_a_pause_of_exactly_the_threshold_closes_a_unit(gap, closes):
    # 2.4 + 1.5 is 3.9, but 3.9 - 2.4 is 1.4999999999999996 in floating point
    units = split(timed(("so", 2.0, 2.4), ("then", round(2.4 + gap, 3), round(2.8 + gap, 3))))
    assert [u["closed_by"] for u in units] == (["pause", "end"] if closes else ["end"])


def test_a_run_on_sentence_is_cut_at_its_last_clause_edge_within_the_limit():
    # 40 words of 0.4 s every 0.5 s with commas after words 5, 12 and 20: word 30 ends 15.4 s in
    spans = [(f"w{k}," if k in (5, 12, 20) else f"w{k}", k * 0.5, k * 0.5 + 0.4) for k in range(40)]
    first, *rest = split(timed(*spans), max_unit_s=15.0)
    assert first["text"].endswith("w20,") and first["closed_by"] == "clause"  # not at w5, or w12
    assert rest[0]["text"].startswith("w21")
    no_edge = [(f"w{k}", k * 0.5, k * 0.5 + 0.4) for k in range(40)]  # none: cut before the word that overflows
    assert split(timed(*no_edge), max_unit_s=15.0)[0]["text"].endswith("w29")


@pytest.mark.parametrize("end,cut", [(MAX_UNIT_S, False), (MAX_UNIT_S + 0.001, True)])
def test_a_unit_of_exactly_the_longest_length_is_not_cut(end, cut):
    spans = [(f"w{k}," if k == 5 else f"w{k}", k * 0.5, k * 0.5 + 0.4) for k in range(int(MAX_UNIT_S * 2) - 1)]
    spans.append(("last", round(end - 0.4, 3), end))  # the last word ends exactly MAX_UNIT_S in, or 1 ms later
    assert len(split(timed(*spans))) == (2 if cut else 1)


def test_questions_by_punctuation_and_by_structure():
    assert is_question("So, where did the idea come from?") and is_question("How long does it take to build one.")
    assert is_question("Is there a fruit cellar here") and is_question("Um, what was your biggest mistake")
    assert not is_question("When he died, I got the radio.") and not is_question("There are two of them.")
    assert not is_question("What a day!") and not is_question("It is what it is.")


def test_starts_that_lean_on_what_came_before():
    assert leaning("And so, my fellow Americans, ask not") == ("trim", 2)
    assert leaning("Yes, we need some bottles or jars.") == ("trim", 1)
    assert leaning("No one could open it.") is None  # an interjection only when punctuation follows it
    assert leaning("For instance, shooting games may not be a fit.") == ("refer", 0)
    assert leaning("He said, it sounds better than before.") == ("refer", 0)
    assert leaning("2. It is high time that communists should openly publish.") == ("refer", 0)
    assert leaning("Yes.") == ("refer", 0)  # nothing that stands alone after it


def test_a_start_on_the_tail_of_the_thought_before_is_no_start():
    """"Yes, gun game Because the people are raised with a gun": Whisper ran the end of one
    answer into the next sentence; a clip may not start on "gun game" (TAIL_WORDS = 3)."""
    assert leaning("Yes, gun game Because the people are raised with a gun") == ("refer", 0)
    assert leaning("gun game Because the people are raised with a gun") == ("refer", 0)
    assert leaning("one two three The end is near for all of us") == ("refer", 0)  # 3 words of tail
    assert leaning("one two three four The end is near for all of us") is None  # 4: a sentence of its own
    assert leaning("Yes, one two three four The end is near") == ("trim", 1)
    assert leaning("gun game, Because the people are raised") is None  # punctuation: Whisper closed the clause
    assert leaning("We sold it in West Germany and Japan") is None  # names, not a sentence starting again
    assert leaning("I mean, Mr. Cooper, with your help") is None


def sentences(*lines):
    """Units of (gap before, text): words 0.35 s long, 0.05 s apart."""
    segments, t = [], 0.0
    for n, (gap, text) in enumerate(lines):
        t += gap
        words = []
        for word in text.split():
            words.append({"word": word, "start": round(t, 3), "end": round(t + 0.35, 3), "space": True})
            t += 0.4
        segments.append({"id": n, "start": words[0]["start"], "end": words[-1]["end"], "text": text, "words": words})
    return split(segments)


def test_an_answer_runs_to_the_next_question_or_pause_and_a_question_it_asks_itself_does_not_end_it():
    units = sentences((0.2, "Where are the radios made?"), (0.3, "In a factory in Leeds."), (0.3, "Eleven people."),
                      (0.3, "Why there?"), (0.3, "Because it is close."), (1.2, "A new paragraph starts here."))
    shape = Structure(units)
    assert shape.answers == [False, True, False, False, True, False]
    assert shape.answer_end[0] == 2 and shape.answer_end[3] == 4
    assert shape.dangling_end[0] and not shape.dangling_end[2] and shape.exchange(0, 2) and not shape.exchange(0, 1)
    assert shape.goes_on[1]  # "Eleven people." is a fragment that completes it


@pytest.mark.parametrize("start, whole", [("Our first batch.", True), ("Our very first batch.", False)])
def test_a_curt_start_of_an_answer_does_not_end_it_where_the_voice_prints_hear_a_change(start, whole):
    units = sentences((0.2, "What was your biggest mistake?"), (0.3, start), (0.3, "We made radios nobody could open."),
                      (0.3, "Half of them kept the letter."), (0.3, "What about money?"), (0.3, "We made a profit."))
    for unit, voice in zip(units, (None, True, True, False, True, True)):  # a change misheard after the start
        unit["new_voice"] = voice
    shape = Structure(units)
    assert shape.answer_end[0] == (3 if whole else 1) and shape.answer_end[4] == 5


@pytest.mark.parametrize("echo, shared", [("People aggressive.", True), ("Aggressive people, you say.", False)])
def test_a_question_asked_again_after_an_echo_shares_its_answer(echo, shared):
    units = sentences((0.2, "Do you think it makes people aggressive?"), (1.0, echo),
                      (0.5, "Does playing gun games make people aggressive?"), (2.8, "I don't know."),
                      (0.4, "Parents complain about it."))
    assert Structure(units).answer_end[0] == (4 if shared else 1)  # three words or fewer: an echo, not an answer


def test_speech_share_and_the_longest_silence_of_any_run():
    units = sentences((0.0, "one two three four."), (3.0, "five six seven eight."), (0.6, "nine ten."))
    speech = Speech(units)
    assert speech.longest(0, 0) == pytest.approx(0.05) and speech.longest(0, 1) == pytest.approx(3.05)
    assert speech.silence(0, 2) == pytest.approx(3.05 + 0.65)
    assert not speech.keeps(Rules(), 0, 1, units[0]["start"], units[1]["end"])  # 3.05 s of silence
    assert speech.keeps(Rules(max_silence_s=3.1, min_speech=0.5), 0, 1, units[0]["start"], units[1]["end"])
    assert not speech.keeps(Rules(max_silence_s=3.1, min_speech=0.7), 0, 1, units[0]["start"], units[1]["end"])


def voice_audio(pieces):
    """Synthetic speech: each piece (pitch Hz, formant Hz, seconds) a buzz through a resonance."""
    import numpy as np

    out = []
    for pitch, formant, seconds in pieces:
        t = np.arange(int(seconds * 16000)) / 16000
        buzz = sum(np.sin(2 * np.pi * pitch * k * t) * np.exp(-((pitch * k - formant) / 400) ** 2)
                   for k in range(1, 40))
        out.append((buzz / np.abs(buzz).max() * 0.5).astype(np.float32))
    return np.concatenate(out)


def test_voice_prints_tell_a_new_speaker_even_with_no_pause():
    from workers.pipeline.clips import voice

    low, high = (110, 700, 0.4), (220, 1800, 0.4)
    audio = voice_audio([low] * 8 + [high] * 8)  # eight words in one voice, eight in another, back to back
    segments = [{"id": 0, "words": [{"word": f"w{k}" + ("," if k == 7 else ""), "start": k * 0.4,
                                     "end": k * 0.4 + 0.4, "space": True} for k in range(16)]}]
    segments[0]["text"] = " ".join(w["word"] for w in segments[0]["words"])
    voice.annotate(segments, audio, 0.0)
    assert all(len(w["voice"]) == 12 for w in segments[0]["words"])
    units = split(segments)
    assert [u["closed_by"] for u in units] == ["turn", "end"] and units[1]["new_voice"] is True
    same = [{"id": 0, "text": segments[0]["text"], "words": [dict(w, voice=segments[0]["words"][0]["voice"])
                                                             for w in segments[0]["words"]]}]
    assert len(split(same)) == 1  # one voice throughout: no turn


INTERVIEW = [(0.2, "Welcome back to the workshop, where we talk about tools."),
             (0.4, "Where do you build the radios today?"),
             (0.3, "Every radio is built in an old shoe factory in Leeds by eleven people."),
             (0.4, "We could build them for half the price overseas, but we chose not to."),
             (0.4, "When builders sit next to the phones, every complaint reaches the bench by lunch."),
             (0.5, "How long does one take to build?"),
             (0.3, "About forty minutes, and then a whole day of testing with music playing."),
             (4.5, "Let me ask about screens, since everybody wants a screen and an app."),
             (0.3, "Why does your radio have no screen?"),
             (0.3, "We built one with a screen, and it was the first thing to break."),
             (0.4, "Screens crack and apps stop being updated, so we decided to drop the screen."),
             (0.4, "Now there are three knobs, and a child can use them."),
             (0.6, "What was your biggest mistake?"),
             (0.3, "Four hundred radios with a battery door that needed a special tool."),
             (0.4, "We sent every customer a free screwdriver and a letter that said sorry.")]


def test_the_offline_picks_keep_an_editors_rules_on_a_synthetic_interview():
    units = sentences(*INTERVIEW)
    duration = units[-1]["end"] + 1
    reply = LocalLLM().find_clips(units, content_type="interview", min_s=8, max_s=30, count=4)["result"]
    clips = resolve(reply["clips"], units, Band(8, 30), duration, 4, kind="interview")
    assert len(clips) >= 3
    texts = [u["text"] for u in units]
    for clip in clips:
        first, last = clip["words"][0], clip["words"][-1]
        k = next(n for n, u in enumerate(units) if u["words"][0]["start"] <= first["start"] <= u["end"])
        assert not (k > 0 and texts[k - 1].endswith("?") and not texts[k].endswith("?")), clip["text"]  # answer
        assert not last["word"].endswith("?"), clip["text"]  # a question whose answer is outside
        gaps = [b["start"] - a["end"] for a, b in zip(clip["words"], clip["words"][1:])]
        assert max(gaps) <= 3.0, clip["text"]  # never across the 4.5 s pause
        assert clip["words"][0]["word"].lower().strip(",") not in ("and", "so", "but", "yes")
        assert 3 <= len(clip["title"].split()) <= 10 and not clip["title"].endswith("\u2026") and clip["reason"]
    assert any(c["text"].startswith("Where do you build") and c["text"].endswith("by lunch.") for c in clips)


def test_the_speech_rules_are_configured_per_content_type():
    from workers.pipeline.clips.rules import rules_for
    from workers.settings import Settings, SettingsError

    defaults = Settings.from_env({})
    assert rules_for("interview", defaults) == Rules(3.0, 0.7) and rules_for("music", defaults) == Rules(10.0, 0.3)
    film = Settings.from_env({"CLIPQUEUE_CLIP_MAX_SILENCE_S": "3,film=5", "CLIPQUEUE_CLIP_MIN_SPEECH": "0.8,film=0.5"})
    assert rules_for("film", film) == Rules(5.0, 0.5, scenes=True) and rules_for("news", film) == Rules(3.0, 0.8)
    for bad in ("lots", "0.7,film=", "-1"):
        with pytest.raises(SettingsError):
            Settings.from_env({"CLIPQUEUE_CLIP_MIN_SPEECH": bad})
