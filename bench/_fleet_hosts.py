"""What runs on each of the fleet's hosts, started with the host's own settings: Postgres 15
(the machine's binaries, a private cluster bound to the database host's address), moto's S3
server, the media and webhook doubles, gunicorn, and worker processes. Used by ``bench.fleet``."""
from __future__ import annotations

import base64
import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench._fleet_net import Host, Network

REPO = Path(__file__).resolve().parent.parent
PG_PORT, S3_PORT, API_PORT = 5432, 9000, 8000
BUCKET = "clipqueue"
SECRET = "whsec_" + base64.b64encode(b"fleet-run-webhook-secret-32-bytes").decode()


def wait_port(addr: str, port: int, deadline_s: float, what: str, proc=None) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening")
        try:
            socket.create_connection((addr, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{what} did not listen on {addr}:{port} within {deadline_s:.0f} s")


def wait_file(path: Path, deadline_s: float, what: str) -> Path:
    end = time.monotonic() + deadline_s
    while not path.exists():
        if time.monotonic() > end:
            raise TimeoutError(f"{what}: no {path.name} within {deadline_s:.0f} s")
        time.sleep(0.2)
    return path


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise RuntimeError("no /usr/lib/postgresql/*/bin/postgres on this machine")
    return Path(found[-1]).parent


def base_env(extra: dict | None = None) -> dict:
    """A clean environment: no proxies or credentials of the box leak into a host."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
           "OMP_NUM_THREADS": "1"}
    env.update(extra or {})
    return env


class Services:
    def __init__(self, net: Network, lease_s: float):
        self.net, self.lease_s = net, lease_s
        self.db_url = self.s3_url = ""

    def clipqueue_env(self, host: Host, extra: dict | None = None) -> dict:
        data = host.path("data")
        for sub in ("data", "tmp", "home"):
            host.path(sub).mkdir(exist_ok=True)
        return base_env({
            "DATABASE_URL": self.db_url, "CLIPQUEUE_DATA_DIR": str(data), "TMPDIR": str(host.path("tmp")),
            "HOME": str(host.path("home")), "CLIPQUEUE_STORAGE": "s3", "CLIPQUEUE_S3_BUCKET": BUCKET,
            "CLIPQUEUE_S3_ENDPOINT": self.s3_url, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "fleet",
            "AWS_SECRET_ACCESS_KEY": "fleet", "ALLOW_PRIVATE_URLS": "1", "CLIPQUEUE_LLM_BACKEND": "local",
            "CLIPQUEUE_LEASE_SECONDS": str(self.lease_s), "CLIPQUEUE_POLL_INTERVAL": "1",
            "CLIPQUEUE_RETRY_BASE_SECONDS": "1", "CLIPQUEUE_WEBHOOK_SECRET": SECRET,
            "CLIPQUEUE_WEBHOOK_RETRY_BASE_S": "1", "CLIPQUEUE_UPLOAD_WRITER_LEASE_S": str(self.lease_s),
            "WHISPER_DEVICE": "cpu", "CLIPQUEUE_LOG_LEVEL": "INFO", **(extra or {})})

    # ------------------------------------------------------------------ infrastructure
    def postgres(self, host: Host) -> str:
        pgdata = host.path("pgdata")
        os.chmod(host.dir, 0o755)
        pgdata.mkdir(mode=0o700)
        shutil.chown(pgdata, "postgres", "postgres")
        shutil.chown(host.path("logs"), "postgres", "postgres")
        subprocess.run(["runuser", "-u", "postgres", "--", str(pg_bin() / "initdb"), "-D", str(pgdata), "-A", "trust",
                        "-U", "postgres", "--no-sync", "-E", "UTF8"], check=True, capture_output=True, cwd="/")
        with open(pgdata / "pg_hba.conf", "a") as hba:
            hba.write("host all all 198.18.0.0/15 trust\n")
        proc = self.net.spawn(host, [str(pg_bin() / "postgres"), "-D", str(pgdata), "-c", f"listen_addresses={host.addr}",
                                     "-c", f"port={PG_PORT}", "-c", f"unix_socket_directories={pgdata}",
                                     "-c", "max_connections=300", "-c", "fsync=off", "-c", "synchronous_commit=off",
                                     "-c", "shared_buffers=64MB"],
                              env=base_env(), log="postgres.log", user="postgres")
        wait_port(host.addr, PG_PORT, 60, "postgres", proc)
        import psycopg

        admin = f"postgresql://postgres@{host.addr}:{PG_PORT}/postgres"
        for _ in range(50):
            try:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute("CREATE DATABASE clipqueue")
                break
            except psycopg.OperationalError:  # still starting up
                time.sleep(0.2)
        self.db_url = f"postgresql://postgres@{host.addr}:{PG_PORT}/clipqueue"
        return self.db_url

    def s3(self, host: Host) -> str:
        proc = self.net.spawn(host, [sys.executable, "-m", "bench._fleet_serve", "s3", host.addr, str(S3_PORT)],
                              env=base_env({"HOME": str(host.dir)}), cwd=REPO, log="s3.log")
        wait_port(host.addr, S3_PORT, 60, "moto S3 server", proc)
        self.s3_url = f"http://{host.addr}:{S3_PORT}"
        import boto3

        boto3.client("s3", endpoint_url=self.s3_url, region_name="us-east-1", aws_access_key_id="fleet",
                     aws_secret_access_key="fleet").create_bucket(Bucket=BUCKET)
        return self.s3_url

    def double(self, host: Host, kind: str, *args: str) -> str:
        ready = host.path("ready.json")
        ready.unlink(missing_ok=True)
        self.net.spawn(host, [sys.executable, "-m", "bench._fleet_serve", kind, host.addr, *args, str(host.dir)],
                       env=base_env(), cwd=REPO, log=f"{kind}.log")
        import json

        port = json.loads(wait_file(ready, 60, kind).read_text() or "{}").get("port")
        return f"http://{host.addr}:{port}"

    # ------------------------------------------------------------------ ClipQueue
    def api(self, host: Host) -> str:
        env = self.clipqueue_env(host, {"CLIPQUEUE_BIND": f"{host.addr}:{API_PORT}", "WEB_CONCURRENCY": "1",
                                        "CLIPQUEUE_THREADS": "4", "CLIPQUEUE_DB_POOL_SIZE": "4",
                                        "CLIPQUEUE_ACCESS_LOG": "-"})
        proc = self.net.spawn(host, [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.py"],
                              env=env, cwd=REPO, log="api.log")
        wait_port(host.addr, API_PORT, 90, f"gunicorn on {host.name}", proc)
        return f"http://{host.addr}:{API_PORT}"

    def worker(self, host: Host, steps: str, *, concurrency: int, table: str = "REAL",
               extra: dict | None = None, webhooks: bool = True):
        argv = [sys.executable, "-m", "workers", "run", "--steps", steps, "--concurrency", str(concurrency),
                "--step-table", f"bench._fleet_steps:{table}", "--lease-seconds", str(self.lease_s),
                "--poll-interval", "1", "--shutdown-grace", "5"]
        if not webhooks:
            argv.append("--no-webhooks")
        return self.net.spawn(host, argv, env=self.clipqueue_env(host, extra), cwd=REPO, log="worker.log")
