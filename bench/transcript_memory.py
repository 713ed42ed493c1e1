"""Peak memory of the transcript step on a long input: the real step (tiny.en, VAD on, chunks
decoded one at a time) on a 4-hour file, against the reference of decoding that file whole
(what the step did before: the whole audio as float32 in memory before chunking).

The input is built from ../shared/media/jfk.flac: 11 s of speech every 5 minutes, silence
between, 16 kHz mono FLAC. Each measurement runs in a fresh process; peak RSS is its
``ru_maxrss``. Target: the step's peak <= 600 MB with tiny.en.

    .venv/bin/python -m bench.transcript_memory [--hours 4]
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
MEDIA = REPO.parent / "shared" / "media"

STEP = """
import json, resource, sys, time
from pathlib import Path
from workers.queue.context import StepContext, Subject
from workers.settings import Settings
from workers.pipeline.steps import transcript
from workers.pipeline.storage import LocalStorage
src, work, seconds = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
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


def build_input(out: Path, hours: float) -> float:
    """``hours`` of audio: jfk.flac, then silence up to 5 minutes, over and over."""
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    work = out.parent
    speech, silence = work / "speech.wav", work / "silence.wav"  # one format, so they concatenate
    pcm = ["-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le"]
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(MEDIA / "jfk.flac"), *pcm, str(speech)],
                   check=True, capture_output=True)
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "289",
                    *pcm, str(silence)], check=True, capture_output=True)
    repeats = int(hours * 12)
    (work / "list.txt").write_text("".join(f"file '{speech}'\nfile '{silence}'\n" for _ in range(repeats)))
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(work / "list.txt"),
                    "-c:a", "flac", str(out)], check=True, capture_output=True)
    probe = subprocess.run([sys.executable, "-c", "import av,sys; c=av.open(sys.argv[1]); "
                            "print(c.duration / 1e6)", str(out)], capture_output=True, text=True, check=True)
    return float(probe.stdout)


def measure(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=4.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="clipqueue-mem-") as tmp:
        src = Path(tmp) / "long.flac"
        started = time.perf_counter()
        seconds = build_input(src, args.hours)
        print(f"input: {seconds / 3600:.2f} h of 16 kHz mono FLAC ({src.stat().st_size / 1e6:.1f} MB), "
              f"built in {time.perf_counter() - started:.0f} s", flush=True)
        whole = measure(WHOLE, str(src))
        print(f"reference, the audio decoded whole:      peak RSS {whole['peak_mb']:7.0f} MB", flush=True)
        step = measure(STEP, str(src), str(Path(tmp) / "work"), str(seconds))
        print(f"transcript step, chunks decoded one by one: peak RSS {step['peak_mb']:7.0f} MB "
              f"({step['chunks']} chunks, {step['words']} words, {step['seconds']:.0f} s)")
    print(f"\nthe step's peak is {step['peak_mb'] / whole['peak_mb']:.2f}x the whole-file decode's; "
          f"target <= 600 MB: {'met' if step['peak_mb'] <= 600 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
