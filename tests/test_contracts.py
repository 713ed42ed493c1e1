"""The import contracts hold for the repository, and the checker does catch violations."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from .conftest import REPO

CHECKER = REPO / ".ci" / "check_imports.py"


def run_checker(root):
    return subprocess.run([sys.executable, str(CHECKER), str(root)], capture_output=True, text=True)


def test_the_repository_keeps_its_import_contracts():
    result = run_checker(REPO)
    assert result.returncode == 0, result.stdout


def test_the_checker_reports_each_kind_of_violation(tmp_path):
    files = {
        "server/__init__.py": "",
        "server/bad.py": "from workers.runner import Worker\nfrom workers import queue\n",
        "workers/__init__.py": "",
        "workers/uses_server.py": "import server.video\n",
        "workers/steps/__init__.py": "",
        "workers/steps/bad_step.py": "from ..queue import claim\n\ndef run(video, ctx):\n    import torch\n",
        "workers/heavy.py": "import yt_dlp\n",
        "tool.py": "import gunicorn\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    result = run_checker(tmp_path)
    assert result.returncode == 1
    out = result.stdout
    assert "server/bad.py:1: server imports workers.runner" in out
    assert "server/bad.py:2" not in out  # workers.queue is part of the surface
    assert "workers/uses_server.py:1: workers imports server" in out
    assert "workers/steps/bad_step.py:1: a step module imports the queue (workers.queue" in out
    assert "bad_step.py:4" not in out  # torch inside the step function is fine
    assert "workers/heavy.py:1: heavy library yt_dlp imported at module level" in out
    assert "tool.py:1: imports gunicorn" in out


def test_importing_the_packages_connects_to_nothing():
    code = ("import socket\n"
            "socket.socket.connect = lambda *a: (_ for _ in ()).throw(AssertionError('connect at import'))\n"
            "import server, server.video, server.internal, server.health, workers, workers.queue, "
            "workers.runner, workers.__main__\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
