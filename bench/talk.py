"""A 10-minute speech recording for the benchmarks, made from the real clips in
../shared/media (Night of the Living Dead dialogue and broadcasts, JFK, the Manifesto
reading), concatenated in a fixed order, as 16 kHz mono WAV and as a 640x360 H.264 + AAC
video. Deterministic: same inputs, same file."""
from __future__ import annotations

import os
from pathlib import Path

from workers.pipeline.media import ffmpeg_binary

REPO = Path(__file__).resolve().parent.parent
MEDIA = Path(os.environ.get("CLIPQUEUE_TEST_MEDIA") or REPO.parent / "shared" / "media")


def sources() -> list[Path]:
    return sorted((MEDIA / "notld_1968").glob("*.wav")) + [MEDIA / "jfk.flac", MEDIA / "manifesto.mp4"]


def _run(args: list[str]) -> None:
    import subprocess

    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def speech_wav(out: Path, seconds: float = 600.0) -> Path:
    """About ``seconds`` of speech as 16 kHz mono WAV."""
    if out.exists():
        return out
    inputs = []
    for path in sources():
        inputs += ["-i", str(path)]
    streams = "".join(f"[{n}:a]aresample=16000,aformat=channel_layouts=mono[a{n}];" for n in range(len(sources())))
    joined = "".join(f"[a{n}]" for n in range(len(sources())))
    _run([*inputs, "-filter_complex", f"{streams}{joined}concat=n={len(sources())}:v=0:a=1[out]",
          "-map", "[out]", "-t", f"{seconds:.0f}", "-ac", "1", "-ar", "16000", str(out)])
    return out


def talk_video(out: Path, seconds: float = 600.0) -> Path:
    """The same speech as a video: a moving test pattern, so the encoder has real work."""
    if out.exists():
        return out
    wav = speech_wav(out.with_suffix(".wav"), seconds)
    _run(["-f", "lavfi", "-i", f"testsrc2=s=640x360:r=25:d={seconds:.0f}", "-i", str(wav), "-shortest",
          "-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-g", "250", "-c:a", "aac", "-b:a", "96k",
          "-movflags", "+faststart", str(out)])
    return out
