"""A fleet of hosts that share only Postgres and the bucket, on this one box (issue 20).

    sudo .venv/bin/python -m bench.fleet [--ci] [--json OUT] [--keep]

Each host is a network namespace made here (``bench._fleet_net``): its own 198.18.0.0/15
address, hostname, /tmp and data directory, the other hosts' directories hidden. db
(Postgres 15, a private cluster), s3 (moto), media (the media double), receiver (webhooks),
api1 + api2 (gunicorn), gpu1 + gpu2 (``--steps transcript``), cpu1 + cpu2 (the other steps);
this process runs as the ``client`` host. It submits videos (URLs on the media host, and an
upload), kills a transcript host, a CPU host and an API host mid-upload (SIGKILL to every
process of its namespace), unplugs a CPU host for longer than the lease while it holds a
finished result, then audits: every video done, each step on an allowed host, no step
touched another host's files, 0 lost, 0 duplicated, 0 stuck. Then throughput with 1, 2 and 3
CPU hosts on sleep-steps. ``--ci``: two worker hosts (all steps), one kill, no throughput.
Namespaces and processes go in ``finally``; the last line says what ``ip netns list`` kept.
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
for _var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
    os.environ.pop(_var, None)

from bench import _fleet_client as client  # noqa: E402
from bench._fleet_audit import audit, duplicated, print_hosts  # noqa: E402
from bench._fleet_hosts import BUCKET, Services  # noqa: E402
from bench._fleet_net import Network, can_make_namespaces  # noqa: E402
from bench._fleet_phases import ConnSampler, kill_during, partition, throughput, upload_kill, wait_workers  # noqa: E402

MEDIA = REPO / "tests" / "media"
OPTIONS = {"clip_min_seconds": 5, "clip_max_seconds": 20, "max_clips": 1}
# Real speech from tests/media; "slow/" is served at 200 KB/s (a download long enough to be killed in).
WAVE1 = ["notld_1968/119s_theres_supposed_to_be_another_broadcast.opus", "jfk.flac",
         "notld_1968/20s_no_authentic_way_for_us_to_say.opus"]
WAVE2 = ["slow/manifesto.mp4", "notld_1968/21s_hey_thats_us_were_doing_all_right.opus"]
WAVE3 = ["notld_1968/30s_i_wont_open_this_door_again.opus", "notld_1968/31s_hes_wrong_you_know.opus"]
UPLOAD = REPO / "samples" / "autoeditor_example.mp4"
TRANSCRIPT, REST = "transcript", "download,content_type,clip_lookup,clip_generation"
ALL_STEPS = f"download,{TRANSCRIPT},content_type,clip_lookup,clip_generation"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ci", action="store_true", help="two worker hosts, one kill, no throughput")
    p.add_argument("--json", type=Path, help="write the report here too")
    p.add_argument("--lease", type=float, default=6.0, help="lease seconds (also the upload writer lease)")
    p.add_argument("--keep", action="store_true", help="keep the data directories (namespaces still go)")
    args = p.parse_args(argv)
    why = can_make_namespaces()
    if why:
        print(f"fleet: cannot build namespaces here: {why}", file=sys.stderr)
        return 2
    report = run(args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0 if report.get("ok") else 1


def run(args) -> dict:
    run_id = secrets.token_hex(2)
    root = Path(tempfile.mkdtemp(prefix=f"cqf-{run_id}-", dir="/var/tmp"))
    net = Network(root, run_id)
    cleaned = []

    def cleanup():
        if cleaned:
            return
        cleaned.append(True)
        left = net.teardown()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        print(f"\nnamespaces left by this run (ip netns list): {left or 'none'}", flush=True)

    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    back = None
    report: dict = {}
    print(f"fleet run: namespaces cqf-{run_id}-* , data in {root}", flush=True)
    try:
        net.start()
        workers = ["w1", "w2"] if args.ci else ["gpu1", "gpu2", "cpu1", "cpu2", "cpu3"]
        apis = ["api1"] if args.ci else ["api1", "api2"]
        for name in ["db", "s3", "media", "receiver", *apis, *workers, "client"]:
            net.add(name)
        h = net.hosts
        back = net.enter(h["client"])  # from here on this process is the client host
        t0 = time.monotonic()
        svc = Services(net, args.lease)
        db = svc.postgres(h["db"])
        svc.s3(h["s3"])
        media = svc.double(h["media"], "media", str(MEDIA))
        hook = svc.double(h["receiver"], "receiver") + "/hook"
        api = {name: svc.api(h[name]) for name in apis}
        roles = {"db": "postgres 15", "s3": "s3 (moto)", "media": "media server", "receiver": "webhook receiver",
                 **{n: "api (gunicorn)" for n in apis}, "client": "client (this run)"}
        if args.ci:
            plan = {"w1": ALL_STEPS, "w2": ALL_STEPS}
        else:
            plan = {"gpu1": TRANSCRIPT, "gpu2": TRANSCRIPT, "cpu1": REST, "cpu2": REST}
        for name, steps in plan.items():
            roles[name] = "worker: transcript" if steps == TRANSCRIPT else (
                "worker: all steps" if steps == ALL_STEPS else "worker: cpu steps")
            svc.worker(h[name], steps, concurrency=2)
        allowed = {s: [n for n, steps in plan.items() if s in steps.split(",")] for s in ALL_STEPS.split(",")}
        sampler = ConnSampler(db, {host.addr: name for name, host in h.items()}).start()
        wait_workers(db, [h[n] for n in plan], 120)
        print(f"fleet up in {time.monotonic() - t0:.0f} s: {len(h)} hosts in namespaces cqf-{run_id}-*", flush=True)
        since = client.db_now(db)
        front = api["api2" if "api2" in api else "api1"]
        tokens = {}

        def wave(names):
            tokens.update({n: client.submit(front, f"{media}/{n}", hook, OPTIONS) for n in names})
        kills, uploads = [], {}
        if args.ci:
            wave(["slow/jfk.flac", WAVE1[2]])
            kills.append(kill_during(net, db, "worker", ["w1", "w2"], set(ALL_STEPS.split(",")), args.lease))
        else:
            wave(WAVE1)
            uploader = threading.Thread(target=upload_kill, args=(net, h["api1"], api["api1"], api["api2"], UPLOAD,
                                                                  hook, OPTIONS, args.lease, uploads), daemon=True)
            uploader.start()
            k = kill_during(net, db, "transcript", ["gpu1", "gpu2"], {TRANSCRIPT}, args.lease)
            kills.append(k)
            svc.worker(h[k["host"]], TRANSCRIPT, concurrency=2)  # the host comes back
            wave(WAVE2)
            k = kill_during(net, db, "cpu", ["cpu1", "cpu2"], {"download"}, args.lease)
            kills.append(k)
            survivor = "cpu2" if k["host"] == "cpu1" else "cpu1"
            h[survivor].path("data", "hold").touch()  # its next finished step waits for the partition
            svc.worker(h[k["host"]], REST, concurrency=2)
            wave(WAVE3)
            report["partition"] = partition(net, db, h[survivor], args.lease)
            uploader.join(timeout=180)
            if uploads.get("token"):
                tokens["upload:" + UPLOAD.name] = uploads["token"]
            kills.append(uploads.get("kill") or {"kind": "api", "host": "api1", "what": "upload", "procs": 0,
                                                 "within_lease": False, "outcome": "did not happen"})
        client.until("every video finished", lambda: _all_terminal(db, tokens), 420, every=1)
        time.sleep(2)  # the last webhooks
        storage = _bucket(svc)
        real = audit(db, tokens, allowed, roles, root, h["s3"].path("logs", "s3.log"), BUCKET, storage,
                     h["receiver"].path("hooks.jsonl"), since)
        real["pg_connections"] = sampler.take()
        report.update(real=real, kills=kills, upload=uploads, real_s=round(time.monotonic() - t0, 1))
        if not args.ci:
            for name in plan:
                net.stop_host(h[name], grace=10)
            report["throughput"] = throughput(net, svc, db, h, sampler, args.lease)
        report["wall_s"] = round(time.monotonic() - t0, 1)
        report["hosts"] = len(h) - 1  # the client is this process
        _finish(report)
        print_report(report, {n: host.addr for n, host in h.items()})
        return report
    finally:
        if back is not None:
            net.leave(back)
        cleanup()


def _bucket(svc):
    from workers.pipeline.storage import S3Storage
    import boto3

    c = boto3.client("s3", endpoint_url=svc.s3_url, region_name="us-east-1", aws_access_key_id="fleet",
                     aws_secret_access_key="fleet")
    return S3Storage(bucket=BUCKET, cache_dir=Path(tempfile.gettempdir()), client=c)


def _all_terminal(db, tokens) -> bool:
    from workers.queue.db import connect

    with connect(db, application_name="fleet-client") as conn:
        n = conn.execute("SELECT count(*) AS n FROM video_processing_queue WHERE token = ANY(%s) "
                         "AND status IN ('done', 'failed', 'cancelled')", (list(tokens.values()),)).fetchone()["n"]
    return n == len(tokens)


def _finish(report: dict) -> None:
    real = report["real"]
    kills = report["kills"]
    report["lost"] = len(real["lost"]) + len(real["failed"])
    report["duplicated"] = duplicated(real)
    report["stuck"] = len(real["stuck"])
    part = report.get("partition") or {}
    report["ok"] = (report["lost"] == 0 and report["duplicated"] == 0 and report["stuck"] == 0
                    and real["done"] == real["videos"] and not real["steps_on_a_host_not_allowed"]
                    and real["checkpoints_naming_a_host_path"] == 0 and not real["files_of_videos_the_host_never_ran"]
                    and all(k.get("within_lease") for k in kills) and (not part or part.get("dropped", 0) >= 1))


def print_report(r: dict, addrs: dict, out=sys.stdout) -> None:
    real = r["real"]
    print_hosts(real, addrs, real["pg_connections"], out)
    print(f"\n  videos {real['videos']}, done {real['done']}, failed {len(real['failed'])}, lost {len(real['lost'])}, "
          f"stuck {len(real['stuck'])}; steps recorded twice {len(real['steps_recorded_twice'])}", file=out)
    print(f"  steps on a host not allowed to run them: {len(real['steps_on_a_host_not_allowed'])}; checkpoints "
          f"naming a host's local path: {real['checkpoints_naming_a_host_path']}; files in a host's dirs of videos "
          f"it ran no step of: {len(real['files_of_videos_the_host_never_ran'])} (each host saw only its own "
          "data dir: the others were covered by empty read-only mounts)", file=out)
    print(f"  bucket: {real['bucket_objects_written']} objects written, "
          f"{len(real['bucket_objects_written_twice'])} written twice, {real['bucket_puts_refused_key_existed']} "
          f"conditional PUTs refused (key existed); webhooks received: {real['webhooks']}", file=out)
    for line in (real["lost"] + real["stuck"] + real["failed"] + real["steps_on_a_host_not_allowed"]
                 + real["files_of_videos_the_host_never_ran"]):
        print(f"  ! {line}", file=out)
    print("\nkills (SIGKILL to every process in the host's namespace)", file=out)
    for k in r["kills"]:
        print(f"  {k['kind']:<10} {k['host']:<6} {k['what']}: {k['procs']} processes killed; {k['outcome']}", file=out)
    if r.get("partition"):
        p = r["partition"]
        print(f"\npartition: {p['host']} unplugged {p['cut_s']} s (lease {p['lease_s']} s) holding a finished "
              f"{p['step']}; taken over by {p['taken_by']}; its stale result: {p['dropped']} dropped by the fence", file=out)
    if r.get("throughput"):
        t0 = r["throughput"][0]
        print(f"\nthroughput on sleep-steps (each step sleeps {t0['sleep_s']} s; {t0['slots']} slots per CPU host; "
              f"transcript on gpu1, {3 * t0['slots']} slots; pg cores = Postgres's CPU, box busy = all 2 cores)",
              file=out)
        print("  (videos/s: the steady pace, from the 10th to the 90th percentile of finishing times; s: first claim "
              "to last finish)", file=out)
        print(f"  {'cpu hosts':<10}{'videos':>7}{'s':>7}{'videos/s':>10}{'x 1 host':>9}{'pg cores':>9}{'box busy':>9}"
              "  claims/s per host; Postgres connections per host (most)", file=out)
        base = r["throughput"][0]["rate"]
        for t in r["throughput"]:
            print(f"  {t['cpu_hosts']:<10}{t['videos']:>7}{t['s']:>7}{t['rate']:>10}{t['rate'] / base:>9.2f}"
                  f"{t['pg_cores']:>9}{t['box_busy']:>8}%  {t['claims_per_s']}; {t['conns']}", file=out)
    print(f"\nfleet: {r['hosts']} hosts, {len(r['kills'])} kills, {r['lost']} lost, {r['duplicated']} duplicated, "
          f"{r['stuck']} stuck ({'PASS' if r['ok'] else 'FAIL'}, {r['wall_s']} s)", file=out, flush=True)


if __name__ == "__main__":
    sys.exit(main())
