"""Exact timing (issue 18, section 5): a clip's audio and video begin at the claimed time and
last the claimed length within one frame, and its captions line up, even when the source's
video starts 0.85 s after its audio (common in real downloads: an MP4 edit list or a
stream start_time).

The source is built here with ffmpeg: a video whose every frame shows its own number as a
bar code, and audio that beeps at each whole second of the file's timeline, muxed with the
video delayed by 0.85 s (``-itsoffset``). What the output shows and sounds at each moment
is read back and compared with what the file holds at the claimed time."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from workers.pipeline.media import decode_audio_range, ffmpeg_binary, timeline
from workers.pipeline.steps import clip_generation
from workers.pipeline.storage import video_key

FPS = 25
BITS = 10
OFFSET = 0.85


def _ffmpeg(*args):
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def late_video(tmp_path_factory):
    """12 s of numbered frames at 25 fps (a 2 s GOP) starting at 0.85 s, over 12.85 s of
    audio that beeps (1 kHz, 50 ms) at 0, 1, 2, ... s."""
    work = tmp_path_factory.mktemp("late")
    bars = "255*mod(floor(N/pow(2,floor(X/32))),2)"
    _ffmpeg("-f", "lavfi", "-i", f"nullsrc=s=320x64:r={FPS}:d=12,format=gray,geq=lum='{bars}'",
            "-c:v", "libx264", "-g", str(2 * FPS), "-pix_fmt", "yuv420p", str(work / "v.mp4"))
    _ffmpeg("-f", "lavfi", "-i", "aevalsrc='if(lt(mod(t,1),0.05),sin(2*PI*1000*t),0)':s=48000:d=12.85",
            "-c:a", "aac", str(work / "a.m4a"))
    _ffmpeg("-itsoffset", str(OFFSET), "-i", str(work / "v.mp4"), "-i", str(work / "a.m4a"),
            "-map", "0:v", "-map", "1:a", "-c", "copy", str(work / "late.mp4"))
    return work / "late.mp4"


def test_the_source_really_starts_its_video_late(late_video):
    import av

    with av.open(str(late_video)) as container:
        assert container.start_time == 0
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert float(video.start_time * video.time_base) == pytest.approx(OFFSET, abs=0.001)
        assert float(audio.start_time * audio.time_base) == 0
    line = timeline(late_video)
    assert line.video_start == pytest.approx(OFFSET, abs=0.001) and line.audio_start == 0 and line.fps == "25/1"


def beeps(samples: np.ndarray, rate: int) -> list[float]:
    """Onsets of the beeps, in seconds from the first sample."""
    loud = np.nonzero(np.abs(samples) > 0.3)[0]
    if len(loud) == 0:
        return []
    onsets = [loud[0]] + [b for a, b in zip(loud, loud[1:]) if b - a > rate // 2]
    return [round(float(o) / rate, 3) for o in onsets]


def streams(path):
    """{'video': (start, duration, [frame numbers]), 'audio': (start, duration, samples)} of a clip."""
    import av

    with av.open(str(path)) as container:
        v, a = container.streams.video[0], container.streams.audio[0]
        numbers = [sum(int(f.to_ndarray(format="gray")[32, 16 + 32 * k] > 128) << k for k in range(BITS))
                   for f in container.decode(video=0)]
        video = (float(v.start_time * v.time_base), float(v.duration * v.time_base), numbers)
    with av.open(str(path)) as container:
        a = container.streams.audio[0]
        samples = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
        audio = (float(a.start_time * a.time_base), len(samples) / a.sample_rate, samples)
    return {"video": video, "audio": audio, "rate": a.sample_rate}


@pytest.mark.parametrize("start", [0.0, 0.5, 5.0])
def test_a_clip_starts_and_lasts_as_claimed_in_both_streams(step_ctx, late_video, start):
    duration = 3.0
    words = [{"word": f"beep{k}", "start": float(k), "end": k + 0.05, "space": True}
             for k in range(13) if start <= k < start + duration]
    video, ctx = step_ctx("clip_generation", options={"captions": "files"}, checkpoints={
        "download": {"output": {"key": video_key(1, "download", "source"), "video_codec": "h264",
                                "width": 320, "height": 64, "duration": 12.85}},
        "clip_lookup": {"output": {"clips": [{"rank": 1, "start": start, "end": start + duration,
                                              "duration": duration, "text": "beeps", "words": words}]}}})
    storage = ctx.services["storage"]
    storage.put_file(video_key(1, "download", "source"), late_video)
    [clip] = clip_generation.run(video, ctx)["clips"]
    got = streams(storage.local_path(clip["files"]["media"]))
    frame = 1 / FPS
    v_start, v_length, numbers = got["video"]
    a_start, a_length, samples = got["audio"]
    assert abs(v_start) <= frame and abs(a_start) <= frame
    assert abs(v_length - duration) <= frame and abs(a_length - duration) <= frame
    assert abs(len(numbers) - duration * FPS) <= 1
    # What the picture shows at each output frame: the file's frame at start + t (the video's
    # own frame n is at 0.85 + n / 25 in the file); its first frame while it has not begun.
    for n, shown in enumerate(numbers):
        expected = max(0.0, (start + n * frame - OFFSET) * FPS)
        assert abs(shown - expected) <= 1, (n, shown, expected)
    # What it sounds: a beep at each whole second of the file, none lost at the start.
    expected_beeps = [round(k - start, 3) for k in range(13) if start <= k < start + duration - 0.05]
    heard = beeps(samples, got["rate"])
    assert len(heard) == len(expected_beeps) and all(abs(h - e) <= frame for h, e in zip(heard, expected_beeps))
    # The captions say each beep's word when it sounds.
    srt = storage.local_path(clip["files"]["srt"]).read_text()
    cue_starts = [_seconds(line.split(" --> ")[0]) for line in srt.splitlines() if " --> " in line]
    assert cue_starts and abs(cue_starts[0] - heard[0]) <= frame


def _seconds(stamp: str) -> float:
    h, m, rest = stamp.split(":")
    s, ms = rest.split(",")
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


@pytest.mark.parametrize("start", [0.0, 0.5, 3.0])
def test_the_transcripts_audio_is_on_the_same_timeline(late_video, start):
    samples = decode_audio_range(late_video, start, start + 3.0, ffmpeg=ffmpeg_binary(), sample_rate=16_000)
    assert abs(len(samples) / 16_000 - 3.0) <= 1 / FPS
    expected = [round(k - start, 3) for k in range(13) if start <= k < start + 3.0 - 0.05]
    heard = beeps(samples, 16_000)
    assert len(heard) == len(expected) and all(abs(h - e) <= 1 / FPS for h, e in zip(heard, expected))


def test_audio_that_starts_after_the_video_is_padded_not_pulled_forward(tmp_path):
    # The reverse case: the video from 0, the audio (beeping at its own 0, 1, 2 s) from 0.6 s.
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=160x90:r={FPS}:d=6", "-c:v", "libx264", "-pix_fmt", "yuv420p",
            str(tmp_path / "v.mp4"))
    _ffmpeg("-f", "lavfi", "-i", "aevalsrc='if(lt(mod(t,1),0.05),sin(2*PI*1000*t),0)':s=48000:d=5",
            "-c:a", "aac", str(tmp_path / "a.m4a"))
    _ffmpeg("-i", str(tmp_path / "v.mp4"), "-itsoffset", "0.6", "-i", str(tmp_path / "a.m4a"),
            "-map", "0:v", "-map", "1:a", "-c", "copy", str(tmp_path / "late_audio.mp4"))
    samples = decode_audio_range(tmp_path / "late_audio.mp4", 0.0, 3.0, ffmpeg=ffmpeg_binary())
    heard = beeps(samples, 16_000)
    assert heard and abs(heard[0] - 0.6) <= 1 / FPS and abs(heard[1] - 1.6) <= 1 / FPS
