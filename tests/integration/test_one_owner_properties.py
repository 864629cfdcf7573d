"""Property: whatever the crash points and however the server's cancel, deadline and an
operator's retry interleave with them, public.jobs is completed by at most one of v1 and
v2 (exactly one, in the end), and production holds this job's commit exactly when v2
won, and is untouched otherwise.

The daemon is driven single-threaded through the scheduler API with the real publish
path (intent, guard, git commit, swap); a crash leaves what SIGKILL leaves (the guard's
connection closed, nothing after the crash point run) and is followed by a takeover.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from enginev2d import scheduler
from enginev2d.completion import Completion
from enginev2d.errors import Canceled, SchedulerError
from tests.integration.test_one_owner import (
    OUTPUTS,
    artifacts_for,
    crash,
    events,
    job_row,
    prod_commits,
    publish_ctx,
    takeover,
)

pytestmark = pytest.mark.slow

KEYS = ("intent", "plan", "codegen", "asset", "qa_review", "fix", "publish_prep")
PHASES = ("lost", "after_intent", "after_swap")  # the last two only for publish_prep

kill_points = st.sets(
    st.one_of(
        st.tuples(st.sampled_from(KEYS[:-1]), st.just("lost")),
        st.tuples(st.just("publish_prep"), st.sampled_from(PHASES)),
    ),
    max_size=4,
)
server_action = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(["cancel", "deadline"]), st.integers(min_value=0, max_value=9)),
)


def v1_completes(conn: Any, job: str) -> None:
    """The server runs v1, which completes public.jobs as today."""
    with conn.transaction():
        conn.execute("SELECT set_config('test.actor', 'v1', true)")
        conn.execute("UPDATE public.jobs SET status = 'completed' WHERE id = %s", (job,))


class Daemons:
    """Successive owners of one job; each crash hands it to the next one."""

    def __init__(self, conn: Any, cfg: Any, pool: Any, job: str, kills: set[Any]) -> None:
        self.conn, self.cfg, self.pool, self.job = conn, cfg, pool, job
        self.kills = set(kills)
        self.n = 0
        self.owner = "D0"
        conn.execute("UPDATE engine_v2.job_runs SET owner = 'D0' WHERE job_id = %s", (job,))
        self.dead = False

    def crashed(self) -> scheduler.Step:
        """The owner dies here; the next daemon takes over at the driver's next step
        (the server may act in between, as it can while a lease runs out)."""
        self.dead = True
        return scheduler.Step("crashed")

    def take_over(self) -> scheduler.Step:
        self.dead = False
        self.n += 1
        self.owner = f"D{self.n}"
        return takeover(self.conn, self.cfg, self.job, self.owner)

    def run_one(self, task: scheduler.ClaimedTask) -> scheduler.Step:
        """Execute one claimed task; maybe crash at a planned point."""
        key = task.task_key
        if (key, "lost") in self.kills:
            self.kills.discard((key, "lost"))
            return self.crashed()
        if key != "publish_prep":
            out = OUTPUTS[key]
            return scheduler.complete(
                self.conn,
                self.cfg,
                self.job,
                self.owner,
                Completion.succeeded(task.id, task.attempt, out, artifacts=artifacts_for(out)),
                claim_next=True,
            )
        return self.publish(task)

    def publish(self, task: scheduler.ClaimedTask) -> scheduler.Step:
        ctx = publish_ctx(self.conn, self.cfg, self.pool, self.job, task, self.owner)
        if ("publish_prep", "after_intent") in self.kills:
            self.kills.discard(("publish_prep", "after_intent"))
            c = self.pool.getconn()
            c.execute(
                "SELECT engine_v2.begin_publish(%s, %s, %s, %s, 'feed')",
                (self.job, task.id, task.attempt, self.owner),
            )
            c.close()
            self.pool.putconn(c)
            ctx.staging.remove()
            return self.crashed()
        try:
            outcome = scheduler_execute(ctx)
        except Canceled:
            ctx.staging.remove()
            return scheduler.claim(self.conn, self.cfg, self.job, self.owner)
        if ("publish_prep", "after_swap") in self.kills:
            self.kills.discard(("publish_prep", "after_swap"))
            crash(ctx, self.pool)
            return self.crashed()
        try:
            return scheduler.complete(
                self.conn,
                self.cfg,
                self.job,
                self.owner,
                Completion.succeeded(task.id, task.attempt, outcome.output),
            )
        finally:
            for release in ctx.after_complete:
                release()
            ctx.staging.remove()


def scheduler_execute(ctx: Any) -> Any:
    from enginev2d.tasks import execute

    return execute(ctx)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kills=kill_points, action=server_action, retry=st.booleans())
# The worst interleavings, always tried: the server's cancel right after a crash between
# the swap and the commit (answer 'pending'), and right after one before the swap.
@example(kills={("publish_prep", "after_swap")}, action=("cancel", 7), retry=True)
@example(kills={("publish_prep", "after_intent")}, action=("cancel", 7), retry=True)
@example(kills={("publish_prep", "after_swap")}, action=("deadline", 7), retry=False)
@example(kills={("codegen", "lost"), ("publish_prep", "lost")}, action=None, retry=True)
def test_exactly_one_of_v1_and_v2_completes_and_production_follows(
    conn,
    config,
    pool,
    make_job,
    kills,
    action,
    retry,
):
    conn.execute(
        "CREATE TABLE IF NOT EXISTS public.test_completions (job_id uuid, by text);"
        "CREATE OR REPLACE FUNCTION public.test_count_completion() RETURNS trigger"
        " LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.test_completions VALUES (NEW.id,"
        " coalesce(nullif(current_setting('test.actor', true), ''), 'v2')); RETURN NEW; END $$;"
        "CREATE OR REPLACE TRIGGER test_count AFTER UPDATE OF status ON public.jobs FOR EACH ROW"
        " WHEN (NEW.status = 'completed') EXECUTE FUNCTION public.test_count_completion()"
    )
    job = make_job()
    d = Daemons(conn, config, pool, job, kills)
    step = scheduler.start(conn, config, job, d.owner)
    v1_ran = False
    for i in range(40):
        if action is not None and i == action[1] and job_row(conn, job)["status"] == "running":
            if action[0] == "cancel":  # the server's deadline: it gives up on v2
                if scheduler.cancel_job(conn, job, "server deadline") == "canceled":
                    v1_completes(conn, job)
                    v1_ran = True
            elif not d.dead:  # the daemon's own job timeout (its job watch)
                scheduler.fail_job(conn, config, job, d.owner, "v2_timeout", "deadline")
        if job_row(conn, job)["status"] != "running":
            break
        if d.dead:
            step = d.take_over()
            continue
        if step.task is None:
            step = scheduler.claim(conn, config, job, d.owner)
            if step.task is None:
                step = d.take_over()  # nothing claimable here: the owner is gone
                continue
        step = d.run_one(step.task)
    run = job_row(conn, job)
    assert run["status"] != "running", run
    if run["status"] != "succeeded" and not v1_ran:
        v1_completes(conn, job)  # the last event was fallback / jobCanceled: v1 runs
    completed_by = [
        r["by"]
        for r in conn.execute(
            "SELECT by FROM public.test_completions WHERE job_id = %s", (job,)
        ).fetchall()
    ]
    ev = events(conn, job)
    assert [e["seq"] for e in ev if e["data"].get("final")] == [ev[-1]["seq"]]
    commits = prod_commits(config, conn, job)
    if run["status"] == "succeeded":
        assert completed_by == ["v2"] and len(commits) == 1
    else:
        assert completed_by == ["v1"] and commits == []
    if retry:
        if run["status"] == "succeeded":
            assert scheduler.retry_job(conn, job) is False
        else:
            with pytest.raises(SchedulerError):
                scheduler.retry_job(conn, job)
        assert job_row(conn, job)["status"] == run["status"]
