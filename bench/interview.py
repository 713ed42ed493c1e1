"""Render tests/media/interview_radio.txt (our own two-person interview script) to speech.

    .venv/bin/python -m bench.interview

Each turn is spoken by espeak-ng (Debian's ``espeak-ng`` package) in its speaker's voice,
trimmed of the synthesizer's own leading and trailing silence, and the turns are joined
with short gaps (``GAPS``, cycled: quick turn-taking, as people talk, so a pause alone does
not tell a change of speaker) or the script's ``[pause S]``. Writes, in tests/media:

* ``interview_radio.opus``: mono Opus at 24 kb/s (what the tests and bench/picks.py read);
* ``interview_radio.turns.json``: who speaks when (the ground truth of the speaker turns,
  in seconds of the rendered audio), for bench/picks.py's turn measure.

Deterministic for a given espeak-ng build (the repository ships the rendered file, so
nobody needs espeak-ng to run the tests).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SCRIPT = REPO / "tests" / "media" / "interview_radio.txt"
VOICES = {"H": ["-v", "en-gb", "-p", "35", "-s", "160"], "G": ["-v", "en-us+f3", "-s", "140"]}
GAPS = [0.3, 0.5, 0.25, 0.7, 0.4, 0.35, 0.6]  # seconds between turns, cycled
RATE = 22050  # espeak-ng's output rate


def turns(text: str) -> list[tuple[str, str, float | None]]:
    """(speaker, words, pause before it or None) for each line of the script."""
    out, pause = [], None
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        found = re.fullmatch(r"\[pause ([\d.]+)\]", line.strip())
        if found:
            pause = float(found.group(1))
            continue
        speaker, words = line.split(":", 1)
        out.append((speaker.strip(), words.strip(), pause))
        pause = None
    return out


def speak(speaker: str, words: str, work: Path):
    import wave

    import numpy as np

    path = work / "turn.wav"
    subprocess.run(["espeak-ng", *VOICES[speaker], "-w", str(path), words], check=True)
    with wave.open(str(path)) as f:
        assert f.getframerate() == RATE and f.getsampwidth() == 2 and f.getnchannels() == 1
        audio = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").astype(np.float32) / 32768
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return audio[loud[0]:loud[-1] + 1]


def main() -> int:
    import wave

    import numpy as np

    from workers.pipeline.media import ffmpeg_binary

    pieces, truth, t = [], [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n, (speaker, words, pause) in enumerate(turns(SCRIPT.read_text())):
            gap = 0.5 if n == 0 else (pause if pause is not None else GAPS[n % len(GAPS)])
            audio = speak(speaker, words, work)
            pieces += [np.zeros(int(round(gap * RATE)), dtype=np.float32), audio]
            t += gap
            truth.append({"speaker": speaker, "start": round(t, 3), "end": round(t + len(audio) / RATE, 3),
                          "text": words})
            t += len(audio) / RATE
        pieces.append(np.zeros(RATE // 2, dtype=np.float32))
        wav = work / "interview.wav"
        with wave.open(str(wav), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(RATE)
            f.writeframes((np.clip(np.concatenate(pieces) * 0.9, -1, 1) * 32767).astype("<i2").tobytes())
        out = SCRIPT.with_suffix(".opus")
        subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav), "-ac", "1",
                        "-c:a", "libopus", "-b:a", "16k", "-application", "voip", str(out)], check=True)
    SCRIPT.with_suffix(".turns.json").write_text(json.dumps(truth, indent=1) + "\n")
    print(f"wrote {out.relative_to(REPO)} ({out.stat().st_size:,} bytes, {t + 0.5:.1f} s, {len(truth)} turns)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
