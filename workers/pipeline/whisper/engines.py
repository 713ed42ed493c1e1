"""The two Whisper engines behind one interface: ``transcribe(audio, offset, progress)``
returns segments with word timestamps, shifted by ``offset`` seconds. Same decoding
settings on both: beam 5, word timestamps, no conditioning on the previous text."""
from __future__ import annotations

SAMPLE_RATE = 16_000  # Hz, mono float32: what both engines take
# At most this much audio goes to an engine at once: faster-whisper computes the log-mel
# features of all it is given in one piece (about 0.5 MB per second of speech), so a
# 10-minute chunk of dense speech peaked near 1 GB. Pieces are cut at quiet moments, as chunks are.
PIECE_S = 120.0


def _words(raw_words, offset: float) -> list[dict]:
    # Whisper starts a word that follows a space with that space: keep it as a flag, so
    # "www.example.org" is not rejoined as "www .example .org".
    return [{"word": w.strip(), "start": round(float(start) + offset, 3), "end": round(float(end) + offset, 3),
             "probability": round(float(p), 3), "space": w[:1].isspace()}
            for w, start, end, p in raw_words if w.strip()]


class FasterWhisper:
    """faster-whisper (CTranslate2): VAD (WHISPER_VAD, on by default), beam 5, word
    timestamps, no conditioning on the previous text (no hallucination loops on long audio)."""

    name = "faster-whisper"

    def __init__(self, model, vad: bool = True):
        self.model, self.vad = model, vad
        self.multilingual = getattr(getattr(model, "model", None), "is_multilingual", False)

    def transcribe(self, audio, offset: float, progress) -> list[dict]:
        segments, _info = self.model.transcribe(
            audio, language=None if self.multilingual else "en", beam_size=5, word_timestamps=True,
            vad_filter=self.vad, condition_on_previous_text=False)
        out = []
        for segment in segments:
            words = _words([(w.word, w.start, w.end, w.probability) for w in (segment.words or [])], offset)
            if words:
                out.append({"start": words[0]["start"], "end": words[-1]["end"], "text": segment.text.strip(),
                            "words": words})
            progress(segment.end)
        return out


class OpenAIWhisper:
    """openai-whisper (PyTorch) with the same decoding settings: beam 5, word timestamps,
    no conditioning on the previous text. (It has no VAD.)"""

    name = "openai-whisper"

    def __init__(self, model, fp16: bool):
        self.model, self.fp16 = model, fp16

    def transcribe(self, audio, offset: float, progress) -> list[dict]:
        result = self.model.transcribe(
            audio, language=None if self.model.is_multilingual else "en", beam_size=5, best_of=5,
            word_timestamps=True, condition_on_previous_text=False, fp16=self.fp16, verbose=None)
        out = []
        for segment in result["segments"]:
            words = _words([(w["word"], w["start"], w["end"], w["probability"]) for w in segment.get("words", [])],
                           offset)
            if words:
                out.append({"start": words[0]["start"], "end": words[-1]["end"], "text": segment["text"].strip(),
                            "words": words})
        progress(len(audio) / SAMPLE_RATE)
        return out


def transcribe_chunk(engine, audio, offset: float, progress, piece_s: float | None = None) -> list[dict]:
    """Segments with word timestamps, shifted by ``offset`` seconds; the audio goes to the
    engine in pieces of about ``piece_s`` seconds (views, not copies), so memory does not
    grow with the chunk's length. ``progress(seconds into the chunk)``."""
    from workers.pipeline.whisper.chunks import plan_chunks

    out: list[dict] = []
    for lo, hi in plan_chunks(audio, piece_s or PIECE_S):
        start = lo / SAMPLE_RATE
        out.extend(engine.transcribe(audio[lo:hi], offset + start, lambda done, s=start: progress(s + done)))
    return out
