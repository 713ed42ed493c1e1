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
    run = subprocess.run([sys.executable, "-m", "bench.fleet", "--ci", "--json", str(out)], cwd=REPO,
                         capture_output=True, text=True, timeout=400)
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(out.read_text())
    real = report["real"]
    assert (real["videos"], real["done"]) == (2, 2), real
    assert (report["lost"], report["duplicated"], report["stuck"]) == (0, 0, 0), real
    assert real["steps_on_a_host_not_allowed"] == [] and real["checkpoints_naming_a_host_path"] == 0
    # The kill landed mid-step on one worker host and the other took the step over within the lease.
    [kill] = report["kills"]
    assert kill["procs"] >= 1 and kill["host"] in ("w1", "w2")
    assert kill["moved_to"] == ({"w1", "w2"} - {kill["host"]}).pop() and kill["within_lease"], kill
    # The survivor recorded the steps; the bucket got each object once, and every video its webhook.
    assert sum(v for k, v in real["hosts"][kill["moved_to"]].items() if k in STEPS) >= 5, real["hosts"]
    assert real["bucket_objects_written"] >= 2 * 3 and real["webhooks"].get("video.done", 0) >= 2
    assert report["ok"] and "namespaces left by this run (ip netns list): none" in run.stdout, run.stdout[-2000:]


STEPS = ("download", "transcript", "content_type", "clip_lookup", "clip_generation")
