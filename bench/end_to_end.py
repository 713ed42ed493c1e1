"""A 10-minute talk through all five steps on the embedded defaults.

    .venv/bin/python -m bench.end_to_end

Serves the talk from a local HTTP server (so yt-dlp really downloads it), runs the pipeline
with an in-process worker (embedded Postgres, bundled tiny.en, local LLM, local storage),
and prints the wall time of each step (from its checkpoint) and the orchestration overhead:
end-to-end wall time minus the time spent inside the steps. Targets on the 2-core machine:
<= 90 s in all, overhead <= 2 %.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.talk import talk_video  # noqa: E402
from workers.queue import jobs as queue  # noqa: E402
from workers.queue.bootstrap import prepare_database  # noqa: E402
from workers.queue.db import connect  # noqa: E402
from workers.queue.embedded import stop_embedded  # noqa: E402
from workers.queue.worker import Worker  # noqa: E402
from workers.pipeline.services import build_hooks, build_services  # noqa: E402
from workers.settings import Settings  # noqa: E402
from workers.pipeline.table import STEPS, default_step_table  # noqa: E402


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the talk")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="clipqueue-e2e-"))
    media_dir = work / "media"
    media_dir.mkdir()
    video = talk_video(media_dir / "talk.mp4", args.seconds)
    server, port = serve(media_dir)
    settings = Settings.from_env().replace(data_dir=work / "data", allow_private_urls=True, database_url=None,
                                           log_level="WARNING")
    try:
        url = prepare_database(settings)
        services = build_services(settings)
        worker = Worker(url, default_step_table(), steps=STEPS, settings=settings, services=services,
                        hooks=build_hooks(settings, services["storage"]),
                        burst=True, poll_interval=0.2)
        with connect(url) as conn:
            started = time.perf_counter()
            token = queue.enqueue(conn, source_url=f"http://127.0.0.1:{port}/talk.mp4",
                                  normalized_url=f"http://127.0.0.1:{port}/talk.mp4").token
            worker.run()
            wall = time.perf_counter() - started
            job = queue.job_by_token(conn, token)
            checkpoints = queue.checkpoints_for_video(conn, job["video_id"])
    finally:
        server.shutdown()
        stop_embedded(settings.data_dir)
    if job["status"] != "done":
        print(f"failed: {job['failure_cause']} {job['failure_details']}")
        return 1
    print(f"talk: {args.seconds:.0f} s, {video.stat().st_size / 1e6:.1f} MB, 640x360 H.264 + AAC\n")
    print("| step | wall s |\n|---|---|")
    inside = 0.0
    for step in STEPS:
        cp = checkpoints[step]
        seconds = (cp["finished_at"] - cp["started_at"]).total_seconds()
        inside += seconds
        print(f"| {step} | {seconds:.2f} |")
    clips = checkpoints["clip_generation"]["output"]["clips"]
    overhead = wall - inside
    print(f"| **all (enqueue to done)** | **{wall:.2f}** |\n")
    print(f"clips: {len(clips)}; orchestration overhead: {overhead:.2f} s = {100 * overhead / wall:.2f} % of wall")
    print(f"targets: <= 90 s: {'met' if wall <= 90 else 'NOT met'}; overhead <= 2 %: "
          f"{'met' if overhead <= 0.02 * wall else 'NOT met'}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
