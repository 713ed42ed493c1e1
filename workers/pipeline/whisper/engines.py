"""The two Whisper engines behind one interface: ``transcribe(audio, offset, progress)``
returns segments with word timestamps, shifted by ``offset`` seconds. Same decoding
settings on both: beam 5, word timestamps, no conditioning on the previous text."""
from __future__ import annotations

SAMPLE_RATE = 16_000  # Hz, mono float32: what both engines take


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


def transcribe_chunk(engine, audio, offset: float, progress) -> list[dict]:
    """Segments with word timestamps, shifted by ``offset`` seconds."""
    return engine.transcribe(audio, offset, progress)
