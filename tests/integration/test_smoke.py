def test_submit_job_creates_running_run(conn, make_job):
    job_id = make_job()
    row = conn.execute(
        "SELECT status, mode, event_seq FROM engine_v2.job_runs WHERE job_id = %s", (job_id,)
    ).fetchone()
    assert row == {"status": "running", "mode": "live", "event_seq": 1}
