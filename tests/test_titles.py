"""Headlines an editor would write, from a clip's own words (issue 18 §2): complete, about
what the clip says, headed by the question an exchange answers when that question says
what it asks, never by the asker's setup, and never on a word Whisper may have misheard."""
from __future__ import annotations

import pytest

from tests.support.spoken import said
from workers.pipeline.clips.quotes import normal
from workers.pipeline.llm.phrases import candidates, says
from workers.pipeline.llm.titles import headline

def test_titles_are_headlines_not_fragments():
    assert "R&D" in headline(said("We have four R +&D departments and one of them made the Game Boy."), {})
    title = headline(said("First eyewitness accounts of this grisly development came from people who were "
                          "understandably frightened and almost incoherent."), {})
    assert not title.endswith("came") and 3 <= len(title.split()) <= 10
    title = headline(said("There's no sound. It's all right. If you stay up here, you take orders from me."),
                     {})
    assert "orders" in title  # the claim, not a line with nothing to head
    read = [c[0] for c in candidates(said("In all parts of the country, the wave of murder, which is sweeping the "
                                          "nation, is being committed by creatures."))]
    assert "the wave of murder is being committed by creatures" in read  # the claim, without what only describes
    read = [c[0] for c in candidates(said("I said I'm not afraid and then this man started walking up the road"))]
    assert "this man started walking up the road" in read  # a run-on Whisper did not punctuate, at its joint
    read = [c[0] for c in candidates(said("we dropped those games as they were hard to change Where do you make it?"))]
    assert "Where do you make it?" in read  # a stop Whisper left out
    title = headline(said("They're afraid of fire. I found that out.", doubt=("afraid", "fire")), {})
    assert "afraid" not in title and "fire" not in title  # a likely mishearing never heads a clip


def test_a_title_says_something_about_its_subject_not_a_name_and_a_phrase():
    title = headline(said("You know, I want to open this door again. I mean, Mr. Cooper, with your help, we can "
                          "push my help. Let him go, man. His mind has made up."), {})
    assert title != "Mr. Cooper, with your help" and says(normal(title))
    assert not says(normal("The above copyright notice and this permission notice"))
    assert says(normal("Nobody owns a gun")) and says(normal("It cost us four dollars"))  # after a subject
    assert says(normal("Game Boy is manufactured in Japan")) and says(normal("That'll leave the door open"))


def test_an_exchange_is_headed_by_its_question_when_the_question_says_what_it_asks():
    spoken = said("How long did it take you to develop the Game Boy? For three or four years we have been working. "
                  "We have four departments and one of them made it.")
    assert headline(spoken, {}, prefer_question=True) == "How long did it take to develop the Game Boy?"
    spoken = said("How long did it take to build the first radio? Three years. Eleven people built every part of it "
                  "by hand in Leeds.")  # "did it take": an "it" that points nowhere
    assert headline(spoken, {}, prefer_question=True) == "How long did it take to build the first radio?"
    spoken = said("What was your biggest mistake? Our first batch. We made radios with a battery door.")
    assert headline(spoken, {}, prefer_question=True) == "What was your biggest mistake?"
    pointing = said("Will it be suitable for the American taste? Sometimes yes. Some companies know the taste of "
                    "every market.")
    assert headline(pointing, {}, prefer_question=True) == "Some companies know the taste of every market"


def test_the_askers_setup_never_heads_the_answer():
    spoken = said("Everybody wanted a screen and an app. Why doesn't your radio have one? We built one with a "
                  "screen. So we decided to drop the screen.")
    assert headline(spoken, {}, prefer_question=True) == "We decided to drop the screen"
    spoken = said("People say every radio needs a screen and an app. Why doesn't yours? We built one. So we "
                  "dropped the screen.")
    assert headline(spoken, {}, prefer_question=True) == "We dropped the screen"
    spoken = said("So what then? The programmer hears that Nintendo will never sell his game in Germany. Well, that "
                  "happened. We dropped those games.")  # the asker goes on past the question until the reply
    assert headline(spoken, {}, prefer_question=True) == "We dropped those games"


@pytest.mark.parametrize("heard, named", [(0.79, False), (0.81, True)])
def test_a_name_or_a_number_heard_unsurely_never_heads_a_clip(heard, named):
    spoken = said("Donnie asked me if I was afraid, and I said I'm not afraid, Donnie. Then this man started walking "
                  "up the road.", doubt=("Donnie",), probability=heard)
    assert ("Donnie" in headline(spoken, {})) is named
    spoken = said("It cost us forty pence to fix the radio. We sent it back.", doubt=("forty",),
                  probability=heard)
    assert ("forty" in headline(spoken, {})) is named


def test_whom_a_speech_addresses_is_left_out_and_its_line_kept_whole():
    assert headline(said("My fellow citizens, ask not what your country can do for you."), {}) == (
        "Ask not what your country can do for you")


def test_a_hook_is_never_a_phatic_line_nor_one_with_a_word_whisper_was_unsure_of():
    from workers.pipeline.llm.titles import hook

    assert hook(said("Wait a minute! The door is open."), "Nothing", {}) == "The door is open."
    spoken = said("We need bottles to make cocktails for the escape tonight. The house is quiet now.",
                  doubt=("cocktails",))
    assert hook(spoken, "Nothing", {}) == "The house is quiet now."


def test_a_headline_cut_keeps_its_stakes_and_never_ends_on_a_word_that_needs_more():
    read = [c.text for c in candidates(said("The wave of murder, which is sweeping the nation is being committed by "
                                            "creatures who feast upon their victims."))]
    assert "The wave of murder is being committed by creatures" in read  # a relative clause Whisper left open
    spoken = said("The wave of murder is being committed by creatures who feast upon the flesh of their victims. "
                  "Officials are still reviewing the reports.")
    assert headline(spoken, {}) == "The wave of murder is being committed by creatures"  # cut before "who"
    spoken = said("Help came too late for the people who were trapped in the farmhouse that night. The fire spread "
                  "to the barn and the fields by morning light.")
    assert headline(spoken, {}) == "Help came too late"  # not "… for the people | who were trapped"
