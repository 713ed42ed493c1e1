"""Real media made from the shared recordings with the real ffmpeg binary."""
from __future__ import annotations

import subprocess
from pathlib import Path

from workers.pipeline.media import ffmpeg_binary


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def audio_as_video(audio: Path, out: Path) -> Path:
    """Wrap an audio recording in an H.264 + AAC video (a still black picture)."""
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=320x180:r=10", "-i", str(audio), "-shortest",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "96k", str(out))
    return out


def silent_video(out: Path, seconds: float = 8.0) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"color=c=blue:s=320x180:r=10:d={seconds}",
           "-f", "lavfi", "-i", f"anullsrc=r=44100:cl=stereo:d={seconds}", "-shortest",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(out))
    return out
