"""Caption lines (issue 18, section 5): a line never splits inside an abbreviation, a
number or a name ("U.S.", "2.5 million", "Dr. King"), and Whisper's pieces of one written
word ("U" + ".S.") are shown, timed and highlighted as that word, in SRT, VTT and ASS."""
from __future__ import annotations

import re

import pytest

from workers.pipeline.clips.captions import LINE_WORDS, WORDS_PER_CUE, ass, chunks, cues, srt, vtt, words_shown


def whisper(pieces: list[tuple[str, bool]], start: float = 10.0, step: float = 0.3) -> list[dict]:
    """Word timestamps as the transcript stores them: the piece, and whether Whisper heard
    a space before it."""
    return [{"word": text, "start": start + i * step, "end": start + i * step + 0.25, "space": space}
            for i, (text, space) in enumerate(pieces)]


def plain(*texts: str) -> list[tuple[str, bool]]:
    return [(t, True) for t in texts]


FILLER = plain("we", "saw", "that", "here", "today", "again", "and", "then")


def lines_of(pieces, size) -> list[str]:
    return [" ".join(w["word"] for w in line) for line in chunks(whisper(pieces), size, 99.0)]


@pytest.mark.parametrize("size", [2, 3, 4, 5, 7])
@pytest.mark.parametrize("lead", range(0, 8))
@pytest.mark.parametrize("pair", [[("U", True), (".S.", False), ("Army", True)],
                                  plain("2.5", "million"), plain("Dr.", "King"), plain("40", "percent"),
                                  plain("J.", "Edgar", "Hoover"), [("1", True), (",000", False)]])
def test_a_line_never_breaks_inside_an_abbreviation_a_number_or_a_name(size, lead, pair):
    # ``lead`` words before the pair put the natural break at every place around it.
    pieces = FILLER[:lead] + pair + FILLER
    phrase = " ".join(w["word"] for w in words_shown(whisper(pair)))
    lines = lines_of(pieces, size)
    assert sum(phrase in line for line in lines) == 1, lines
    assert all(len(line.split()) <= size + size // 2 for line in lines)  # and lines stay short


def test_the_break_falls_right_after_the_phrase_when_it_fills_the_line():
    # Exactly at the limit: "we saw Dr." would end a 3-word line; the name comes along.
    assert lines_of(plain("we", "saw", "Dr.", "King", "speak", "today"), 3) == ["we saw Dr. King", "speak today"]
    # One word earlier the line ends before the title, not inside the name.
    assert lines_of(plain("we", "saw", "a", "Dr.", "King", "today"), 3) == ["we saw a", "Dr. King today"]


def test_whispers_pieces_of_one_word_become_that_word():
    words = whisper([("in", True), ("the", True), ("U", True), (".S.", False), ("we", True), ("don", True),
                     ("'t", False), ("pay", True), ("5", True), ("%", True)])
    shown = words_shown(words)
    assert [w["word"] for w in shown] == ["in", "the", "U.S.", "we", "don't", "pay", "5%"]
    us = shown[2]
    assert us["start"] == words[2]["start"] and us["end"] == words[3]["end"]  # from the first piece to the last
    # even when Whisper marks the piece with a space
    assert [w["word"] for w in words_shown(whisper(plain("the", "U", ".S.")))] == ["the", "U.S."]


def test_srt_vtt_and_ass_show_us_whole_and_highlight_it_as_one_word():
    pieces = plain("Troops", "of", "the") + [("U", True), (".S.", False)] + plain("and", "2.5", "million", "people")
    clip = {"start": 9.5, "words": whisper(pieces)}
    for text in (srt(clip), vtt(clip)):
        assert "U.S." in text and "U .S." not in text and "\n.S." not in text
        assert "2.5 million" in text
    script = ass(clip, 1080, 1920)
    events = [line for line in script.splitlines() if line.startswith("Dialogue:")]
    assert len(events) == len(words_shown(clip["words"])) == 8  # one event per shown word
    highlighted = [re.search(r"\{\\c&H[0-9A-F]+&\}(.*?)\{\\r\}", e).group(1) for e in events]
    assert "U.S." in highlighted and "U" not in highlighted and ".S." not in highlighted
    assert all("U .S." not in e for e in events)


def test_a_long_run_of_names_still_breaks():
    names = plain(*"Martin Luther King Junior And John Fitzgerald Kennedy Spoke".split())
    lines = lines_of(names, LINE_WORDS)
    assert len(lines) >= 2 and all(len(line.split()) <= LINE_WORDS + LINE_WORDS // 2 for line in lines)


def test_cues_keep_their_limits_and_times():
    words = whisper(plain(*[f"w{i}" for i in range(20)]))
    parts = cues({"start": 10.0, "words": words})
    assert [len(text.split()) for _, _, text in parts] == [WORDS_PER_CUE, WORDS_PER_CUE, 6]
    assert parts[0][0] == 0.0 and parts[1][0] == pytest.approx(7 * 0.3)
