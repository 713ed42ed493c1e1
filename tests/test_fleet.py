"""The fleet at CI size (issue 20): hosts that share nothing but the network, each a network
namespace the run makes (198.18.0.0/15 inside them only) with its own data directory and
/tmp: Postgres 15, moto's S3, the media and webhook doubles, gunicorn, and two worker hosts
running the real steps. One worker host is SIGKILLed (every process in its namespace) in the
middle of a step. Every video must be done, the step taken over by the other host within the
lease, nothing lost, recorded twice or written twice to the bucket, and no checkpoint may
name a host's local path. ``bench/fleet.py`` without ``--ci`` is the full run.

Needs root (network namespaces) and ``ip``; skipped with the reason otherwise."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench._fleet_net import can_make_namespaces

REPO = Path(__file__).resolve().parent.parent
WHY = can_make_namespaces()


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.skipif(WHY is not None, reason=f"fleet test needs network namespaces: {WHY}")
def test_two_worker_hosts_one_killed_mid_step_lose_nothing_and_share_only_postgres_and_the_bucket(tmp_path):
    out = tmp_path / "fleet.json"
    proc = subprocess.Popen([sys.executable, "-m", "bench.fleet", "--ci", "--json", str(out)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout = stderr = ""
    try:
        stdout, stderr = proc.communicate(timeout=380)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the run deletes its namespaces on SIGTERM
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        _delete_leftovers(proc, stdout)
    run = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(out.read_text())
    real = report["real"]
    assert (real["videos"], real["done"]) == (2, 2), real
    assert (report["lost"], report["duplicated"], report["stuck"]) == (0, 0, 0), real
    assert real["steps_on_a_host_not_allowed"] == [] and real["checkpoints_naming_a_host_path"] == 0
    assert real["files_of_videos_the_host_never_ran"] == []
    # The kill landed mid-step on one worker host and the other took the step over within the lease.
    [kill] = report["kills"]
    assert kill["procs"] >= 1 and kill["host"] in ("w1", "w2")
    assert kill["moved_to"] == ({"w1", "w2"} - {kill["host"]}).pop() and kill["within_lease"], kill
    # The survivor recorded the steps; the bucket got each object once, and every video its webhook.
    assert sum(v for k, v in real["hosts"][kill["moved_to"]].items() if k in STEPS) >= 5, real["hosts"]
    assert real["bucket_objects_written"] >= 2 * 3 and real["webhooks"].get("video.done", 0) >= 2
    assert report["ok"] and "namespaces left by this run (ip netns list): none" in run.stdout, run.stdout[-2000:]


def _delete_leftovers(proc, stdout: str) -> None:
    """Should the run have died before its own cleanup: its namespaces (named in its first
    line), their processes, and nothing of any other run."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    found = re.search(r"namespaces (cqf-[0-9a-f]{4}-)\*", stdout or "")
    if not found:
        return
    for name in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split():
        if name.startswith(found.group(1)):
            for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split():
                subprocess.run(["kill", "-9", pid], capture_output=True)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


STEPS = ("download", "transcript", "content_type", "clip_lookup", "clip_generation")
