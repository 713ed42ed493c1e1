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
        "server/bad.py": "from workers.queue.worker import Worker\nfrom workers.queue import jobs\n",
        "server/video.py": "from .requests import json_object_body\n",
        "server/internal.py": "from .video import json_object_body\n",
        "workers/__init__.py": "",
        "workers/uses_server.py": "import server.video\n",
        "workers/queue/__init__.py": "",
        "workers/queue/jobs.py": "from workers.pipeline.table import STEPS\n",
        "workers/queue/worker.py": "from ..pipeline import media\n",
        "workers/pipeline/__init__.py": "from doubles.dns import fake_resolver\n",
        "workers/pipeline/steps/__init__.py": "",
        "workers/pipeline/steps/bad_step.py": ("from ...queue.jobs import claim\nfrom workers.queue.errors import PermanentError\n"
                                               "from workers.queue import context\n\ndef run(video, ctx):\n    import torch\n"),
        "workers/pipeline/heavy.py": "import yt_dlp\n",
        "tool.py": "import gunicorn\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    result = run_checker(tmp_path)
    assert result.returncode == 1
    out = result.stdout
    assert "server/bad.py:1: server imports workers.queue.worker" in out
    assert "server/bad.py:2" not in out  # workers.queue.jobs is part of the surface
    assert "server/internal.py:1: blueprint server.internal imports another blueprint (server.video" in out
    assert "server/video.py" not in out  # a shared helper module is fine
    assert "workers/uses_server.py:1: workers imports server" in out
    assert "workers/queue/jobs.py:1: the engine imports workers.pipeline.table" in out
    assert "workers/queue/worker.py:1: the engine imports workers.pipeline" in out
    assert "workers/pipeline/__init__.py:1: product code imports the test doubles" in out
    assert "workers/pipeline/steps/bad_step.py:1: a step imports the engine's internals (workers.queue.jobs" in out
    assert "bad_step.py:2" not in out and "bad_step.py:3" not in out  # errors and context are the step surface
    assert "bad_step.py:6" not in out  # torch inside the step function is fine
    assert "workers/pipeline/heavy.py:1: heavy library yt_dlp imported at module level" in out
    assert "tool.py:1: imports gunicorn" in out


def test_importing_the_packages_connects_to_nothing():
    code = ("import socket\n"
            "socket.socket.connect = lambda *a: (_ for _ in ()).throw(AssertionError('connect at import'))\n"
            "import server, server.video, server.internal, server.health, workers, workers.queue.jobs, "
            "workers.queue.worker, workers.pipeline.table, workers.pipeline.services, workers.__main__\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
