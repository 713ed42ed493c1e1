"""The fleet's machines on one box: each host is a network namespace of its own (made and
deleted here), cabled to a switch namespace by a veth pair, with a 198.18.0.0/15 address
(the benchmarking range, used only inside these namespaces: no default route, nothing
leaves them), its own data directory and its own processes.

Every process of a host runs through ``ip netns exec`` under ``unshare --mount --uts``: its
hostname is the host's name (so worker ids name the host), ``/tmp`` is a private tmpfs, and
the other hosts' data directories are covered by empty read-only tmpfs mounts. A step that
read or wrote a file another host made, other than through the bucket, would find nothing
there and fail. Used by ``bench.fleet``."""
from __future__ import annotations

import ctypes
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

NET_PREFIX = "198.18.0."
CLONE_NEWNET = 0x40000000


def ip(*args: str, check: bool = True) -> str:
    run = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and run.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {run.stderr.strip()}")
    return run.stdout


def can_make_namespaces() -> str | None:
    """None when this process can build a fleet; else why not (for a loud skip)."""
    if os.geteuid() != 0:
        return "not root: network namespaces need CAP_SYS_ADMIN"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"no `{tool}` on PATH"
    probe = f"cqf-probe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode:
        return f"`ip netns add` refused: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@dataclass
class Host:
    name: str
    ns: str
    addr: str
    dir: Path
    procs: list = field(default_factory=list)  # Popen objects started on it

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)


class Network:
    """The namespaces of one fleet run: ``cqf-<run>-<host>``, and ``cqf-<run>-net`` with the bridge."""

    def __init__(self, root: Path, run_id: str):
        self.root, self.run_id = root, run_id
        self.switch = f"cqf-{run_id}-net"
        self.hosts: dict[str, Host] = {}
        self.made: list[str] = []
        self._next = 2

    def _netns_add(self, name: str) -> None:
        ip("netns", "add", name)
        self.made.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def start(self) -> "Network":
        os.chmod(self.root, 0o755)  # mkdtemp's 0700 would keep the postgres user out
        self._netns_add(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        return self

    def add(self, name: str) -> Host:
        ns = f"cqf-{self.run_id}-{name}"
        self._netns_add(ns)
        addr = f"{NET_PREFIX}{self._next}"
        self._next += 1
        port = f"p{name}"[:15]
        ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        host = Host(name, ns, addr, self.root / "hosts" / name)
        host.dir.mkdir(parents=True, exist_ok=True)
        (host.dir / "logs").mkdir(exist_ok=True)
        self.hosts[name] = host
        return host

    # -------------------------------------------------------------- processes
    def spawn(self, host: Host, argv: list[str], *, env: dict, log: str, user: str | None = None,
              cwd: Path | None = None) -> subprocess.Popen:
        others = [str(h.dir) for h in self.hosts.values() if h.name != host.name]
        hide = "".join(f"mount -t tmpfs -o ro,size=4k,mode=0555 cqf-hidden {shlex.quote(d)} && " for d in others)
        command = " ".join(shlex.quote(a) for a in argv)
        if user:
            command = f"exec runuser -u {user} -- {command}"
        else:
            command = f"exec {command}"
        script = (f"hostname {shlex.quote(host.name)} && {_private_tmp(host)}{hide}{command}")
        out = open(host.path("logs", log), "ab")
        try:
            proc = subprocess.Popen(["ip", "netns", "exec", host.ns, "unshare", "--mount", "--uts",
                                     "--propagation", "private", "sh", "-c", script],
                                    env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        finally:
            out.close()
        host.procs.append(proc)
        return proc

    def pids(self, host: Host) -> list[int]:
        return [int(p) for p in ip("netns", "pids", host.ns, check=False).split()]

    def kill_host(self, host: Host) -> int:
        """SIGKILL every process in the host's namespace (a power cut); how many there were."""
        killed = 0
        for _ in range(5):  # a process may fork while we go
            pids = [p for p in self.pids(host) if p != os.getpid()]  # never the orchestrator
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for proc in host.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        host.procs = [p for p in host.procs if p.poll() is None]
        return killed

    def stop_host(self, host: Host, grace: float = 15.0) -> None:
        """SIGTERM its processes, then SIGKILL whatever is left after ``grace``."""
        for pid in self.pids(host):
            if pid == os.getpid():
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while set(self.pids(host)) - {os.getpid()} and time.monotonic() < deadline:
            time.sleep(0.2)
        self.kill_host(host)

    def cut(self, host: Host) -> None:
        """Unplug the host's cable at the switch: its packets vanish, its processes run on."""
        ip("-n", self.switch, "link", "set", f"p{host.name}"[:15], "down")

    def restore(self, host: Host) -> None:
        ip("-n", self.switch, "link", "set", f"p{host.name}"[:15], "up")

    def enter(self, host: Host) -> int:
        """Move this thread (call before starting any other) into ``host``'s network
        namespace; returns a descriptor of the namespace it was in, for ``leave``."""
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        back = os.open("/proc/self/ns/net", os.O_RDONLY)
        fd = os.open(f"/run/netns/{host.ns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns failed")
        finally:
            os.close(fd)
        return back

    @staticmethod
    def leave(back: int) -> None:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.setns(back, CLONE_NEWNET)
        os.close(back)

    def teardown(self) -> list[str]:
        """Kill every process of every host, delete the namespaces; what is left (must be [])."""
        for host in self.hosts.values():
            try:
                self.kill_host(host)
            except Exception:  # noqa: BLE001 - go on with the others
                pass
        for name in reversed(self.made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.made = []
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return [line.split()[0] for line in listed.splitlines() if line.startswith(f"cqf-{self.run_id}-")]


def _private_tmp(host: Host) -> str:
    """Shell that gives the host a private tmpfs on /tmp, keeping the code it runs: a checkout
    (and its .venv) that lives under /tmp, as CI's fresh clone does, is bound back in place
    from a stash of the old /tmp in the host's own directory."""
    keep = sorted({str(p) for p in (Path(__file__).resolve().parent.parent, Path(sys.prefix).resolve())
                   if Path("/tmp") in p.parents})
    if not keep:
        return "mount -t tmpfs -o size=256m,mode=1777 cqf-tmp /tmp && "
    stash = shlex.quote(str(host.dir / ".old-tmp"))
    back = "".join(f"mkdir -p {shlex.quote(k)} && mount --bind {stash}/{shlex.quote(k[len('/tmp/'):])} "
                   f"{shlex.quote(k)} && " for k in keep)
    return (f"mkdir -p {stash} && mount --bind /tmp {stash} && "
            f"mount -t tmpfs -o size=256m,mode=1777 cqf-tmp /tmp && {back}")
