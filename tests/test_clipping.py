"""Citations to clips: word edges, padding into silence, the band, overlaps, windows."""
from __future__ import annotations

from workers.pipeline.clips.choosing import Band, resolve
from workers.pipeline.llm.local import LocalLLM
from workers.pipeline.llm.text import textrank, tokens


def talk(n=40, seg_s=5.0, gap=0.6):
    """n sentences of 4 words, each ``seg_s`` long, with ``gap`` of silence between."""
    segments, t = [], 0.0
    for i in range(n):
        words, w_len = [], (seg_s - gap) / 4
        for k in range(4):
            words.append({"word": f"w{i}_{k}", "start": round(t + k * w_len, 3), "end": round(t + (k + 1) * w_len, 3)})
        segments.append({"id": i, "start": words[0]["start"], "end": words[-1]["end"],
                         "text": " ".join(w["word"] for w in words) + ".", "words": words})
        t += seg_s
    return segments


def test_a_citation_snaps_to_word_edges_with_padding_into_silence():
    segs = talk()
    [clip] = resolve([{"start_segment": 2, "end_segment": 5, "score": 1}], segs, Band(10, 60), 200.0, 5)
    assert clip["start"] == segs[2]["words"][0]["start"] - 0.25
    assert clip["end"] == segs[5]["words"][-1]["end"] + 0.25
    assert clip["text"].split()[0] == "w2_0" and clip["text"].split()[-1] == "w5_3"


def test_padding_never_reaches_past_half_way_to_a_neighbouring_word():
    segs = talk(gap=0.1)
    [clip] = resolve([{"start_segment": 2, "end_segment": 5, "score": 1}], segs, Band(10, 60), 200.0, 5)
    assert clip["start"] == round((segs[1]["words"][-1]["end"] + segs[2]["words"][0]["start"]) / 2, 3)
    assert clip["end"] == round((segs[5]["words"][-1]["end"] + segs[6]["words"][0]["start"]) / 2, 3)
    # two clips side by side share no moment: both are kept
    both = resolve([{"start_segment": 2, "end_segment": 5, "score": 1}, {"start_segment": 6, "end_segment": 9,
                                                                        "score": 0.5}], segs, Band(10, 60), 200.0, 5)
    assert len(both) == 2 and both[1]["end"] <= both[0]["start"] or both[0]["end"] <= both[1]["start"]


def test_the_band_is_met_by_whole_sentences():
    segs = talk()
    [short] = resolve([{"start_segment": 3, "end_segment": 3, "score": 1}], segs, Band(15, 30), 200.0, 5)
    assert 15 <= short["duration"] <= 30.5 and short["start_segment"] == 3
    [long] = resolve([{"start_segment": 0, "end_segment": 30, "score": 1}], segs, Band(15, 30), 200.0, 5)
    assert 15 <= long["duration"] <= 30.5


def test_overlapping_picks_keep_the_better_one_and_ranks_follow_scores():
    segs = talk()
    cites = [{"start_segment": 2, "end_segment": 6, "score": 0.5}, {"start_segment": 4, "end_segment": 8, "score": 0.9},
             {"start_segment": 20, "end_segment": 24, "score": 0.7}, {"start_segment": 99, "end_segment": 100}]
    clips = resolve(cites, segs, Band(10, 60), 200.0, 5)
    assert [(c["start_segment"], c["rank"]) for c in clips] == [(4, 1), (20, 2)]


def test_long_transcripts_are_cut_into_overlapping_windows_on_sentence_edges():
    from workers.pipeline.llm.shortlist import windows

    segs = talk(n=800)  # 4000 s of 5 s sentences
    for s in segs:
        s["words"][-1]["word"] += "."
    parts = windows(segs, 90, 45)
    assert 85 <= len(parts) <= 90
    assert parts[0][0] == 0 and parts[-1][-1] == 799  # the whole talk
    assert all(segs[b]["end"] - segs[a]["start"] <= 90 for a, b in parts)
    assert all(segs[b]["end"] - segs[a]["start"] >= 80 for a, b in parts[:-1])
    assert all(b2 > b1 and a2 <= b1 for (a1, b1), (a2, b2) in zip(parts, parts[1:]))  # they overlap, no gap
    segs[10]["words"][-1]["word"] = segs[10]["words"][-1]["word"].rstrip(".")  # 10 runs on into 11
    assert all(a != 11 and b != 10 for a, b in windows(segs, 90, 45))


def test_textrank_prefers_sentences_that_share_the_talks_themes():
    sentences = [tokens(t) for t in [
        "The bourgeoisie and the proletariat are the two great classes.",
        "Class struggle between bourgeoisie and proletariat shapes history.",
        "I had a sandwich for lunch.",
        "The history of society is the history of class struggle.",
    ]]
    rank = textrank(sentences)
    assert rank[2] == min(rank)


def test_local_clip_picks_are_spread_over_the_video_not_bunched_at_the_start():
    segs = talk(n=120)  # 600 s of uniform talk
    reply = LocalLLM().find_clips(segs, content_type="lecture", min_s=20, max_s=40, count=4)["result"]
    clips = resolve(reply["clips"], segs, Band(20, 40), 600.0, 4)
    assert len(clips) == 4
    starts = sorted(c["start"] for c in clips)
    assert starts[-1] > 300 and starts[0] < 150


def caption_clip():
    words = [("Visit", 10.0, 10.4, True), ("www", 10.5, 10.8, True), (".example", 10.8, 11.2, False),
             (".org", 11.2, 11.5, False)] + [(f"w{i}", 12 + i * 0.5, 12.4 + i * 0.5, True) for i in range(12)]
    return {"start": 9.75, "end": 18.2, "words": [{"word": w, "start": a, "end": b, "space": sp} for w, a, b, sp in words]}


def test_captions_are_rebased_to_the_clip_and_keep_words_whole():
    from workers.pipeline.clips.captions import cues, srt, vtt

    clip = caption_clip()
    parts = cues(clip)
    assert parts[0][0] == 0.25  # 10.0 s in the video is 0.25 s into the clip
    assert " ".join(text for _, _, text in parts) == "Visit www.example.org " + " ".join(f"w{i}" for i in range(12))
    assert all(len(text.split()) <= 7 and b - a <= 3.5 + 0.5 for a, b, text in parts)
    assert srt(clip).startswith("1\n00:00:00,250 --> ") and "\n\n2\n" in srt(clip)
    assert vtt(clip).startswith("WEBVTT\n\n00:00:00.250 --> ")


def test_a_band_narrower_than_any_sentence_is_met_at_word_edges_or_explained():
    # One 7.8 s sentence and a 3-3.0001 s band: cut at the last word that fits, and say why
    # the clip misses the band's minimum instead of silently returning 7.8 s.
    segs = talk(n=3, seg_s=8.0, gap=0.2)
    [clip] = resolve([{"start_segment": 1, "end_segment": 1, "score": 1}], segs, Band(3, 3.0001), 24.0, 5)
    assert clip["duration"] <= 3.0001
    assert clip["words"][0]["start"] == segs[1]["words"][0]["start"] and len(clip["words"]) < 4
    assert "band" in clip["band_note"] and "word edges" in clip["band_note"]


def test_a_band_longer_than_the_video_is_explained():
    segs = talk(n=17, seg_s=5.2)  # 88.4 s
    [clip] = resolve([{"start_segment": 0, "end_segment": 3, "score": 1}], segs, Band(500, 600), 88.4, 5)
    assert clip["duration"] <= 88.4 and "only 88.4 s long" in clip["band_note"]


def test_a_clip_inside_the_band_has_no_note():
    segs = talk()
    [clip] = resolve([{"start_segment": 2, "end_segment": 5, "score": 1}], segs, Band(10, 60), 200.0, 5)
    assert "band_note" not in clip


def _segments(texts, each=6.0):
    out = []
    for n, text in enumerate(texts):
        start = n * each
        words = [{"word": w, "start": start + k * 0.3, "end": start + k * 0.3 + 0.25} for k, w in enumerate(text.split())]
        out.append({"id": n, "start": start, "end": start + each - 0.2, "text": text, "words": words})
    return out


def test_the_local_picks_leave_out_boilerplate_and_keep_whole_sentences():
    texts = ["This audiobook is in the public domain.", "Find more at www.example.org and subscribe.",
             "Rivers carve valleys over millions of years", "because water carries sediment downstream.",
             "Glaciers carve valleys too, but their valleys are shaped like a U.",
             "Rivers and glaciers together explain most valleys on Earth.",
             "Erosion by wind matters in deserts", "where sand blasts rock into arches.",
             "Thanks for watching, and hit the bell."]
    segments = _segments(texts)
    reply = LocalLLM().find_clips(segments, content_type="lecture", min_s=10, max_s=20, count=3)["result"]
    assert reply["clips"]
    # (resolve keeps only the clip with 6 s of speech or more: the others are single sentences
    # once the dead air is cut, under choosing.POSTABLE_S)
    titled = {c["start_segment"]: c["title"] for c in resolve(reply["clips"], segments, Band(10, 20), 60.0, 3)}
    assert titled
    for clip in reply["clips"]:
        clip["title"] = titled.get(clip["start_segment"], "Untitled")
        first, last = clip["start_segment"], clip["end_segment"]
        assert first not in (0, 1, 8) and last not in (0, 1, 8)  # no disclaimer, URL, or channel housekeeping
        assert first == 0 or texts[first - 1].endswith(".")  # starts where a sentence starts
        assert texts[last].endswith(".")  # ends where a sentence ends
        assert " · " not in clip["title"] and clip["title"][0].isupper()  # a title, not a keyword list


def test_a_numbered_sentence_makes_a_complete_headline_without_its_number():
    from workers.pipeline.llm.titles import headline

    def words(text):
        return [{"word": w, "start": n * 0.4, "end": n * 0.4 + 0.3} for n, w in enumerate(text.split())]

    assert headline(words("1. Communism is already acknowledged by all European powers to be itself a power."),
                    {}) == "Communism is already acknowledged by all European powers"  # cut where a phrase ends
    assert headline(words("The spectre of communism."), {}) == "The spectre of communism"
    assert headline(words("So, um, we decided to drop the screen, you know."), {}) == "We decided to drop the screen"
