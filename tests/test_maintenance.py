"""Maintenance runs in one process of the fleet at a time, and another takes over when it stops."""
from __future__ import annotations

import threading

from workers.queue import jobs as queue
from workers.queue.maintenance import LOCK_KEY, Maintenance

from .conftest import wait_for


def start(database_url, settings, name):
    stopping = threading.Event()
    service = Maintenance(database_url, settings, name=name, stopping=stopping, reap_interval=0.1,
                          election_interval=0.1).start()
    return service, stopping


def lock_holders(db) -> int:
    key = LOCK_KEY
    return db.execute("""SELECT count(*) AS n FROM pg_locks
                          WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database
                                                                                   WHERE datname = current_database())
                            AND ((classid::bigint << 32) | objid::bigint) = %s""", (key,)).fetchone()["n"]


def test_one_process_leads_and_another_takes_over_when_it_stops(database_url, db, settings):
    services = [start(database_url, settings, f"m{i}") for i in range(3)]
    try:
        wait_for(lambda: sum(s.leading.is_set() for s, _ in services) == 1, timeout=10,
                 message="no maintenance leader was elected")
        # Give the followers many election rounds: none of them may lead beside the leader.
        for _ in range(10):
            threading.Event().wait(0.05)
            assert sum(s.leading.is_set() for s, _ in services) == 1
        assert lock_holders(db) == 1
        leader = next(i for i, (s, _) in enumerate(services) if s.leading.is_set())
        services[leader][1].set()  # the leader's process stops (its connection closes)
        services[leader][0].join(5)
        rest = [s for i, (s, _) in enumerate(services) if i != leader]
        wait_for(lambda: sum(s.leading.is_set() for s in rest) == 1, timeout=10,
                 message="no follower took over after the leader stopped")
        assert lock_holders(db) == 1
    finally:
        for service, stopping in services:
            stopping.set()
        for service, _ in services:
            service.join(5)
    # A closed connection's backend exits (and frees its locks) a moment after the client.
    wait_for(lambda: lock_holders(db) == 0, timeout=10, message="the lock outlived every leader")


def test_the_leader_reaps_a_job_whose_steps_keep_dying(database_url, db, settings):
    url = "http://example.com/dies"
    token = queue.enqueue(db, source_url=url, normalized_url=url, max_retries=0).token
    job = queue.claim(db, worker_id="dead", steps=["download"], lease_seconds=30)
    db.execute("UPDATE video_processing_queue SET lease_expires_at = now() - interval '1 second' WHERE id = %s",
               (job.lease.job_id,))
    service, stopping = start(database_url, settings, "reaper")
    try:
        wait_for(lambda: queue.job_by_token(db, token)["status"] == "failed", timeout=10,
                 message="the leader never reaped the job")
    finally:
        stopping.set()
        service.join(5)
    assert queue.job_by_token(db, token)["failure_cause"] == "lease_expired" and service.reaped == 1
