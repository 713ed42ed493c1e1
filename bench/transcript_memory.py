"""Peak memory of the transcript step on a long input: the real step (tiny.en, VAD on, chunks
decoded one at a time) on a 4-hour file, against the reference of decoding that file whole
(what the step did before: the whole audio as float32 in memory before chunking).

The input is built at run time from the repository's own media (tests/media/interview_radio.opus,
two people talking): its first --speech-s seconds every 5 minutes, silence between, 16 kHz mono
FLAC. Each measurement runs in a fresh process; peak RSS is its
``ru_maxrss``. Target: the step's peak <= 600 MB with tiny.en.

    .venv/bin/python -m bench.transcript_memory [--hours 3.5] [--speech-s 30] [--skip-whole]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MEDIA = REPO / "tests" / "media"

STEP = """
import json, resource, sys, time
from pathlib import Path
from workers.queue.context import StepContext, Subject
from workers.settings import Settings
from workers.pipeline.steps import transcript
from workers.pipeline.storage import LocalStorage
src, work, seconds = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
if len(sys.argv) > 4:  # the step as it was: each chunk handed to Whisper whole
    from workers.pipeline.whisper import engines
    engines.PIECE_S = float(sys.argv[4])
storage = LocalStorage(work / "storage")
storage.put_file("videos/1/download/source", src)
ctx = StepContext(step="transcript", checkpoints={"download": {"output": {"key": "videos/1/download/source",
                  "duration": seconds}}}, options={}, settings=Settings(data_dir=work), services={"storage": storage})
started = time.perf_counter()
out = transcript.run(Subject(1, "", {}, {"download": ctx.output_of("download")}), ctx)
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.perf_counter() - started, "words": out["words"], "chunks": out["chunks"]}))
"""

WHOLE = """
import json, resource, sys
from faster_whisper import decode_audio
audio = decode_audio(sys.argv[1], sampling_rate=16000)
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "samples": len(audio)}))
"""


def build_input(out: Path, hours: float, speech_s: float = 30.0) -> float:
    """``hours`` of audio: the interview's first ``speech_s`` seconds, then silence up to 5
    minutes, over and over."""
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    work = out.parent
    speech, silence = work / "speech.wav", work / "silence.wav"  # one format, so they concatenate
    pcm = ["-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le"]
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(MEDIA / "interview_radio.opus"), "-t", str(speech_s),
                    *pcm, str(speech)],
                   check=True, capture_output=True)
    speech_s = min(speech_s, _duration(speech))  # the interview is 231 s long
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", str(300 - speech_s),
                    *pcm, str(silence)], check=True, capture_output=True)
    repeats = int(hours * 12)
    (work / "list.txt").write_text("".join(f"file '{speech}'\nfile '{silence}'\n" for _ in range(repeats)))
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(work / "list.txt"),
                    "-c:a", "flac", str(out)], check=True, capture_output=True)
    return _duration(out)


def _duration(path: Path) -> float:
    probe = subprocess.run([sys.executable, "-c", "import av,sys; c=av.open(sys.argv[1]); "
                            "print(c.duration / 1e6)", str(path)], capture_output=True, text=True, check=True)
    return float(probe.stdout)


def measure(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=3.5)
    parser.add_argument("--speech-s", type=float, default=30.0, help="seconds of speech in every 5 minutes")
    parser.add_argument("--skip-whole", action="store_true", help="skip the whole-file decode reference")
    parser.add_argument("--whole-chunks", action="store_true",
                        help="also run the step as it was before pieces: each chunk handed to Whisper whole")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="clipqueue-mem-") as tmp:
        src = Path(tmp) / "long.flac"
        started = time.perf_counter()
        seconds = build_input(src, args.hours, args.speech_s)
        print(f"input: {seconds / 3600:.2f} h of 16 kHz mono FLAC ({src.stat().st_size / 1e6:.1f} MB), "
              f"built in {time.perf_counter() - started:.0f} s", flush=True)
        whole = {"peak_mb": float("nan")} if args.skip_whole else measure(WHOLE, str(src))
        print(f"reference, the audio decoded whole:      peak RSS {whole['peak_mb']:7.0f} MB", flush=True)
        if args.whole_chunks:
            old = measure(STEP, str(src), str(Path(tmp) / "work-old"), str(seconds), "1e9")
            print(f"transcript step, each chunk to Whisper whole (before): peak RSS {old['peak_mb']:7.0f} MB "
                  f"({old['chunks']} chunks, {old['words']} words, {old['seconds']:.0f} s)", flush=True)
        step = measure(STEP, str(src), str(Path(tmp) / "work"), str(seconds))
        print(f"transcript step, chunks decoded one by one: peak RSS {step['peak_mb']:7.0f} MB "
              f"({step['chunks']} chunks, {step['words']} words, {step['seconds']:.0f} s)")
    print(f"\nthe step's peak is {step['peak_mb'] / whole['peak_mb']:.2f}x the whole-file decode's; "
          f"target <= 600 MB: {'met' if step['peak_mb'] <= 600 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
