"""What the product hands the engine besides its steps: an explicit ``Hooks`` object given to
the worker (never keys of the ``services`` dict that steps see, where a typo silently
disabled one).

* ``on_final(subject, status)``: a job ended for good (failed, cancelled): drop its work files.
* ``on_checkpoint``: observers of each written checkpoint, ``observer(conn, subject, step,
  output)``, run after the commit on a live connection (a fresh one when the outcome write
  had to move to one). An observer that fails on its connection (``psycopg.OperationalError``)
  is tried again on a fresh connection at once, a few times; each must be idempotent.
* ``maintenance_tasks``: name -> ``task(conn) -> count``, the product's upkeep, run by the
  maintenance leader with every prune and by ``python -m workers prune`` (one list for both).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

Observer = Callable[[Any, Any, str, dict], None]
MaintenanceTask = Callable[[Any], int]
RESERVED = ("on_final", "on_checkpoint", "maintenance_tasks")  # no longer accepted as services keys


@dataclass(frozen=True)
class Hooks:
    on_final: Callable[[Any, str], None] | None = None
    on_checkpoint: Sequence[Observer] = ()
    maintenance_tasks: Mapping[str, MaintenanceTask] = field(default_factory=dict)


def check_services(services: Mapping[str, Any] | None) -> None:
    """Refuse hooks passed the old way, as ``services`` keys: they would be silently ignored."""
    misplaced = sorted(set(services or ()) & set(RESERVED))
    if misplaced:
        raise ValueError(f"{', '.join(misplaced)} belong in Hooks (hooks=...), not in services")
