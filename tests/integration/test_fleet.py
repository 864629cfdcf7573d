"""The fleet switch and registry in SQL (issue 16 item 1): the switch NOTIFYs every
listener at commit, a claim never succeeds while it is off (even from a daemon whose last
reading is stale), and ``enginev2d status`` without a job shows the fleet."""

from __future__ import annotations

import json

import psycopg

from enginev2d import fleet
from enginev2d.sql import load_queries
from tests.integration.test_cli import run, write_config

DAEMON = load_queries("daemon")


def claim(conn: psycopg.Connection, owner: str) -> list[str]:
    rows = conn.execute(
        DAEMON["claim_jobs"], {"owner": owner, "lease_s": 5.0, "limit": 10, "exclude": []}
    ).fetchall()
    return [str(r["job_id"]) for r in rows]


def test_switch_notifies_and_guards_the_claim(conn, db_url, make_job):
    assert fleet.read_switch(conn).enabled is True  # migration 0006: on
    job = make_job()
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN engine_v2_control")
        sw = fleet.set_switch(conn, False, reason="drill", actor="ops@test")
        notes = list(listener.notifies(timeout=5, stop_after=1))
    assert json.loads(notes[0].payload) == {"enabled": False}
    assert (sw.enabled, sw.reason, sw.changed_by) == (False, "drill", "ops@test")
    assert fleet.read_switch(conn) == sw
    assert claim(conn, "stale-daemon") == []  # the SQL guard, whatever the daemon thinks
    fleet.set_switch(conn, True)
    assert claim(conn, "d1") == [job]


def test_status_without_a_job_shows_the_fleet(conn, config, tmp_path, make_job):
    reg = fleet.Registry("host-a:1:abc", env_enabled=True, max_jobs=8, beat_s=10.0)
    reg.register(conn, claiming=True)
    off = fleet.Registry("host-b:2:def", env_enabled=False, max_jobs=8, beat_s=10.0)
    off.register(conn, claiming=False)
    make_job()
    claim(conn, "host-a:1:abc")
    reg.beat(conn, claiming=True, running_jobs=1)
    fleet.set_switch(conn, False, reason="incident 7", actor="ops@test")
    cfg_file = write_config(tmp_path / "e.toml", config.database.url, config)
    out = run(cfg_file, "status")
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("fleet switch: DISABLED by ops@test") and "incident 7" in lines[0]
    a = next(line for line in lines if line.startswith("host-a"))
    b = next(line for line in lines if line.startswith("host-b"))
    assert a.split()[1:4] == ["alive", "on", "yes"] and a.split()[4:6] == ["1/8", "1"]
    assert b.split()[1:4] == ["alive", "off", "no"]
    assert "running: 1 held by host-a:1:abc" in out.output
    data = json.loads(run(cfg_file, "status", "--json").output)
    assert {d["daemon_id"]: d["leases"] for d in data["daemons"]} == {
        "host-a:1:abc": 1,
        "host-b:2:def": 0,
    }
    assert data["switch"]["enabled"] is False
    reg.stopped(conn)
    after = json.loads(run(cfg_file, "status", "--json").output)
    assert [d["alive"] for d in after["daemons"] if d["daemon_id"] == "host-a:1:abc"] == [False]
