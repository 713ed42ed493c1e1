"""Scene changes (clips.scenes) on synthetic audio and video, and the film rule built on
them: no film clip spans a scene change; a short film clip stands alone or is not picked."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from workers.pipeline.clips import scenes
from workers.pipeline.clips.rules import Rules, Speech, rules_for
from workers.pipeline.llm.picks import find

RATE = 16_000


def room(kind: str, seconds: float, rng) -> np.ndarray:
    n = int(seconds * RATE)
    if kind == "hall":  # a low rumble
        return 0.004 * np.convolve(rng.standard_normal(n), np.ones(40) / 40, mode="same") * 6
    t = np.arange(n) / RATE  # "street": mains hum and a hiss
    return 0.003 * np.sin(2 * np.pi * 120 * t) + 0.0015 * rng.standard_normal(n)


def talk(rooms: list[tuple[str, float]], voices=("a",), seed=1):
    """Words of 0.4 s every 0.5 s over each room in turn; a voice is a noise burst through
    its own filter (a: bright, b: dark). Returns (audio, segments)."""
    rng = np.random.default_rng(seed)
    audio = np.concatenate([room(kind, seconds, rng) for kind, seconds in rooms]).astype(np.float32)
    words, t, k = [], 0.05, 0
    while t + 0.45 < len(audio) / RATE:
        lo, hi = int(t * RATE), int((t + 0.4) * RATE)
        burst = rng.standard_normal(hi - lo)
        voice = voices[(k // 6) % len(voices)]
        burst = np.diff(burst, prepend=0) if voice == "a" else np.convolve(burst, np.ones(8) / 8, mode="same")
        audio[lo:hi] += 0.1 * burst * np.hanning(hi - lo)
        words.append({"word": f"w{k}.", "start": round(t, 3), "end": round(t + 0.4, 3)})
        t, k = t + 0.5, k + 1
    return audio, [{"id": 0, "start": words[0]["start"], "end": words[-1]["end"], "words": words}]


def test_a_change_of_room_under_the_words_is_a_scene_change_and_a_change_of_voice_is_not():
    audio, segments = talk([("hall", 10.0), ("street", 10.0)])
    scenes.annotate(segments, audio, 0.0)
    words = segments[0]["words"]
    cut = [w for w in words if w.get("scene", 0) >= scenes.CUT]
    first_after = next(n for n, w in enumerate(words) if w["start"] >= 10.0)
    assert cut, "the change of room is heard"
    assert all(abs(words.index(w) - first_after) <= 1 for w in cut)  # at the change, ±1 word
    assert max(words, key=lambda w: w.get("scene", 0)) in words[first_after - 1:first_after + 2]

    audio, segments = talk([("hall", 20.0)], voices=("a", "b"))  # two voices taking turns in one room
    scenes.annotate(segments, audio, 0.0)
    assert not [w for w in segments[0]["words"] if w.get("scene", 0) >= scenes.CUT]


def test_a_cut_in_the_picture_marks_the_next_word(tmp_path):
    from workers.pipeline.media import ffmpeg_binary

    ffmpeg = ffmpeg_binary()
    video = tmp_path / "cut.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x90:rate=25:duration=4",
                    "-f", "lavfi", "-i", "color=c=red:size=160x90:rate=25:duration=4", "-filter_complex",
                    "[0][1]concat=n=2:v=1[v]", "-map", "[v]", "-c:v", "libx264", "-g", "250", str(video)], check=True)
    cuts = scenes.video_cuts(video, ffmpeg)
    assert len(cuts) == 1 and abs(cuts[0] - 4.0) <= 0.1  # one frame of the 10 a second compared
    words = [{"word": w, "start": a, "end": a + 0.3} for w, a in (("one", 3.0), ("two", 3.5), ("three", 4.1))]
    scenes.mark_video_cuts([{"words": words}], cuts)
    assert [w.get("scene") for w in words] == [None, None, scenes.CUT]


def unit(n: int, start: float, text: str, scene: float = 0.0) -> dict:
    words = [{"word": w, "start": start + 0.3 * k, "end": start + 0.3 * k + 0.25} for k, w in enumerate(text.split())]
    return {"id": n, "start": words[0]["start"], "end": words[-1]["end"], "text": text, "words": words,
            "closed_by": "sentence", "gap": 0.2, "new_voice": None, **({"scene": scene} if scene else {})}


def film(change: float):
    """Two scenes of 12 lines, 0.2 s apart, the second's first line after a jump of ``change``."""
    lines = ["The truck is burning behind the old diner tonight.", "We ran across the field to the farmhouse.",
             "Nobody answered when we knocked on the door.", "The radio says the dead are walking again."]
    units, t = [], 0.0
    for n in range(24):
        units.append(unit(n, t, lines[n % 4], change if n == 12 else 0.0))
        t = units[-1]["end"] + 0.2
    return units


@pytest.mark.parametrize("jump,spans", [(scenes.CUT, False), (scenes.CUT - 0.1, True)])
def test_no_film_clip_spans_a_scene_change(jump, spans):
    units = film(jump)
    speech = Speech(units)
    assert speech.keeps(Rules(scenes=True), 10, 13, units[10]["start"], units[13]["end"]) is spans
    assert speech.keeps(Rules(), 10, 13, units[10]["start"], units[13]["end"])  # talk: the room is no rule
    clips = find(units, content_type="film", min_s=15, max_s=60, count=5, rules=rules_for("film"))
    assert clips
    if not spans:
        assert all(c["end_segment"] < 12 or c["start_segment"] >= 12 for c in clips)


def test_a_short_film_clip_is_picked_only_when_it_stands_alone():
    units = film(scenes.CUT)[:18]  # scenes of 12 lines (about 34 s), 4 (about 11 s) and 2 (about 5 s)
    units[16]["scene"] = scenes.CUT
    clips = find(units, content_type="film", min_s=15, max_s=60, count=5, rules=rules_for("film"))
    spans = [(c["start_segment"], c["end_segment"]) for c in clips]
    assert (12, 15) in spans  # the 4-line scene, whole
    assert not [s for s in spans if s[0] >= 16]  # the 2-line scene stands alone poorly
    assert all(b < 12 for a, b in spans[:1])  # a run in the band comes first
