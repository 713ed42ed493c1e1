"""A small real filesystem for full-disk tests: a tmpfs of ``size`` bytes mounted at a fresh
folder (root only: ``mount -t tmpfs``), always unmounted at the end. Where mounting is not
allowed the test is skipped, with the reason in the summary."""
from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(where: Path, size: int):
    where = Path(where)
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("full-disk tests mount a tmpfs, which needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for a full-disk test: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(where: Path, leave: int = 0) -> Path:
    """Fill the filesystem at ``where`` until ``leave`` bytes are free; the filler's path."""
    filler = Path(where) / "filler"
    with open(filler, "ab") as out:
        while True:
            room = os.statvfs(where).f_bavail * os.statvfs(where).f_frsize - leave
            if room <= 0:
                return filler
            try:
                out.write(b"\0" * min(room, 1 << 20))
                out.flush()
            except OSError:
                return filler
