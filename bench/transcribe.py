"""Transcription speed: faster-whisper vs openai-whisper on the same tiny.en weights (the
bundled CTranslate2 model, converted for openai-whisper) and the same 10-minute speech
file, on this machine's CPU. Prints each engine's real-time factor (seconds of compute per
second of audio) and the ratio. Target: the default engine >= 2.5x openai-whisper.

    .venv/bin/python -m bench.transcribe [--seconds 600]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.talk import speech_wav  # noqa: E402
from workers.settings import Settings  # noqa: E402
from workers.pipeline.whisper.engines import SAMPLE_RATE  # noqa: E402
from workers.pipeline.whisper.models import load_model  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600.0)
    args = parser.parse_args(argv)
    from faster_whisper import decode_audio

    with tempfile.TemporaryDirectory(prefix="clipqueue-asr-") as tmp:
        wav = speech_wav(Path(tmp) / "speech.wav", args.seconds)
        audio = decode_audio(str(wav), sampling_rate=SAMPLE_RATE)
        seconds = len(audio) / SAMPLE_RATE
        runs = [("faster-whisper (default: int8, VAD on)", "faster-whisper", True),
                ("faster-whisper (int8, VAD off)", "faster-whisper", False),
                ("openai-whisper (float32, no VAD)", "openai-whisper", True)]
        results = {}
        for label, engine_name, vad in runs:
            settings = Settings(whisper_engine=engine_name, whisper_vad=vad, data_dir=Path(tmp))
            engine, _ = load_model(settings)
            engine.transcribe(audio[: SAMPLE_RATE * 5], 0.0, lambda _: None)  # warm up (JIT, caches)
            started = time.perf_counter()
            segments = engine.transcribe(audio, 0.0, lambda _: None)
            elapsed = time.perf_counter() - started
            words = sum(len(s["words"]) for s in segments)
            results[label] = elapsed
            print(f"{label:40s} {elapsed:7.1f} s  RTF {elapsed / seconds:.3f}  words {words}", flush=True)
    default, reference = results[runs[0][0]], results[runs[2][0]]
    print(f"\naudio: {seconds:.0f} s; beam 5, word timestamps, same tiny.en weights")
    print(f"faster-whisper (default) is {reference / default:.2f}x openai-whisper; "
          f"without VAD {reference / results[runs[1][0]]:.2f}x; target >= 2.5x: "
          f"{'met' if reference / default >= 2.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
