"""The chaos run, CI size: the real system (gunicorn API, worker processes, Postgres,
Whisper, ffmpeg, yt-dlp) under SIGKILLs, a SIGTERM, a Postgres restart, a flaky download
server and a flaky, then absent, LLM server -- and nothing is lost or done twice, and no
video fails unless an injected fault explains it.

The run owns its embedded Postgres (it restarts it), whatever DATABASE_URL says."""
from __future__ import annotations

import io

from bench import chaos

from .conftest import embedded_home, remove_embedded


def test_a_chaos_run_loses_nothing_and_repeats_no_finished_step(media):
    out = io.StringIO()
    work = embedded_home("chaos")  # its Postgres lives outside pytest's tree (see embedded_home)
    try:
        report = chaos.run(chaos.Config(videos=6, workers=3, kills=3, duplicates=2, seed=11, media=media,
                                        work=work), out=out)
    finally:
        remove_embedded(work / "data")
        remove_embedded(work)
    summary = out.getvalue()
    assert chaos.must_be_zero(report) == {k: 0 for k in chaos.MUST_BE_ZERO}, summary
    # Every video ends done, or failed with a cause that an injected fault explains (the audit
    # proves it from the fake servers' logs: must_be_zero counts the unexplained ones). Which
    # faults land on which video depends on how the processes race, so no exact count.
    assert report["done"] + len(report["failed"]) == 6 and report["done"] >= 1, summary
    assert report["bytes_ratio"] <= 1.1, summary
    # the chaos did happen: three aimed kills, the restart, the SIGTERM, the outage, bad replies
    ch = report["chaos"]
    assert len(ch["kills"]) == 3 and ch["pg_restarts"] == 1 and ch["sigterms"] == 1, summary
    assert ch["llm_down_s"] > 0 and sum(ch["llm_faults"].values()) > 0, summary
    assert sum(ch["download_faults"].values()) > 0, summary
    assert report["recovery"]["rescues"] >= 1, summary
