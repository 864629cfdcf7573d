-- Queries of the fleet-wide kill switch and the daemon registry (enginev2d.fleet,
-- enginev2d.daemon). Tables: migration 0006; set_engine_switch: sql/functions.

-- read_switch: the one switch row (none = never set: enabled)
SELECT enabled, reason, changed_by, changed_at FROM engine_v2.engine_switch WHERE id

-- set_switch: change it and NOTIFY engine_v2_control (at commit)
SELECT enabled, reason, changed_by, changed_at
  FROM engine_v2.set_engine_switch(%(enabled)s, %(reason)s, %(actor)s)

-- register_daemon: this process at start (a restarted daemon has a new id)
INSERT INTO engine_v2.daemons
  (daemon_id, hostname, pid, version, env_enabled, claiming, max_jobs, beat_s)
VALUES (%(daemon_id)s, %(hostname)s, %(pid)s, %(version)s, %(env_enabled)s, %(claiming)s,
        %(max_jobs)s, %(beat_s)s)
ON CONFLICT (daemon_id) DO UPDATE
  SET hostname = excluded.hostname, pid = excluded.pid, version = excluded.version,
      env_enabled = excluded.env_enabled, claiming = excluded.claiming,
      max_jobs = excluded.max_jobs, beat_s = excluded.beat_s,
      started_at = now(), last_seen_at = now(), stopped_at = NULL

-- beat_daemon: the registry half of a heartbeat (also after a switch change)
UPDATE engine_v2.daemons
   SET last_seen_at = now(), claiming = %(claiming)s, running_jobs = %(running_jobs)s,
       stopped_at = NULL
 WHERE daemon_id = %(daemon_id)s

-- stop_daemon: at a clean exit
UPDATE engine_v2.daemons
   SET last_seen_at = now(), stopped_at = now(), claiming = false, running_jobs = 0
 WHERE daemon_id = %(daemon_id)s

-- fleet_daemons: daemons alive or stopped within the last hour, with the leases they hold
SELECT d.daemon_id, d.hostname, d.pid, d.version, d.env_enabled, d.claiming,
       d.running_jobs, d.max_jobs, d.started_at, d.last_seen_at, d.stopped_at,
       (d.stopped_at IS NULL
        AND d.last_seen_at > now() - make_interval(secs => 3 * d.beat_s)) AS alive,
       extract(epoch FROM now() - d.last_seen_at)::float8 AS seen_s_ago,
       coalesce(l.leases, 0) AS leases,
       l.lease_left_s
  FROM engine_v2.daemons d
  LEFT JOIN LATERAL (
    SELECT count(*) AS leases,
           min(extract(epoch FROM r.lease_expires_at - now()))::float8 AS lease_left_s
      FROM engine_v2.job_runs r
     WHERE r.owner = d.daemon_id AND r.status = 'running'
  ) l ON true
 WHERE d.stopped_at IS NULL OR d.stopped_at > now() - interval '1 hour'
 ORDER BY d.hostname, d.started_at, d.daemon_id

-- lease_owners: running runs by holder (NULL = waiting for a daemon; expired = a dead one)
SELECT r.owner,
       count(*) AS running,
       count(*) FILTER (WHERE r.lease_expires_at < now()) AS expired
  FROM engine_v2.job_runs r
 WHERE r.status = 'running'
 GROUP BY r.owner
 ORDER BY r.owner NULLS FIRST

-- forget_daemons: registry rows of daemons silent since before the cutoff (prune)
DELETE FROM engine_v2.daemons
 WHERE last_seen_at < %(before)s
RETURNING daemon_id
