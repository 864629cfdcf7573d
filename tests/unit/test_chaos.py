"""The chaos run's pure parts: its scenario from a seed, reading job trailers out of a
production history, and the per-job classification and tally it reports."""

from __future__ import annotations

import dataclasses

import pytest

from bench.chaos.plan import FAIL_TASKS, FAIL_TIMES, ChaosClock, ScenarioSizes, scenario
from bench.chaos.tally import (
    COMMIT_SEP,
    FIELD_SEP,
    JobFacts,
    classify,
    job_commits,
    kill_points,
    tally,
)

OK = JobFacts(
    job_id="j",
    designed_to_fail=False,
    shared=False,
    killed=True,
    status="succeeded",
    result_type="completed",
    commits=1,
    v2_completions=1,
)
FELL_BACK = dataclasses.replace(
    OK, status="failed", error_code="v2_task_failed", fallback_triggered=True, commits=0,
    v2_completions=0, v1_completions=1,
)  # fmt: skip


def facts(**kw: object) -> JobFacts:
    return dataclasses.replace(OK, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- scenario


def test_the_scenario_is_a_function_of_the_seed() -> None:
    sizes = ScenarioSizes()
    assert scenario(7, sizes).jobs == scenario(7, sizes).jobs
    assert scenario(7, sizes).jobs != scenario(8, sizes).jobs


def test_the_scenario_has_the_sizes_it_was_asked_for() -> None:
    sizes = ScenarioSizes(jobs=60, shared_projects=6, jobs_per_shared=3, failing=6)
    jobs = scenario(3, sizes).jobs
    assert len(jobs) == 60 and len({j.job_id for j in jobs}) == 60
    assert sum(j.shared for j in jobs) == 18
    projects = {(j.user_id, j.project_id) for j in jobs}
    assert len(projects) == 6 + 42
    failing = [j for j in jobs if j.designed_to_fail]
    assert len(failing) == 6
    # Designed failures: solo jobs only (a publish race must not hide them), on a task
    # that always runs, failing more often than any budget of attempts and takeovers.
    for j in failing:
        assert not j.shared and j.fail_task in FAIL_TASKS
        assert j.options["inject"][j.fail_task]["fail_times"] == FAIL_TIMES
    assert all(
        "fail_times" not in spec for j in jobs if not j.fail_task
        for spec in j.options["inject"].values()
    )  # fmt: skip
    assert [j.at_s for j in jobs] == sorted(j.at_s for j in jobs)
    assert jobs[0].at_s >= 0 and jobs[-1].at_s <= sizes.submit_span_s


def test_jobs_of_a_shared_project_are_submitted_one_after_the_other() -> None:
    jobs = scenario(5, ScenarioSizes()).jobs
    positions: dict[tuple[str, str], list[int]] = {}
    for i, j in enumerate(jobs):
        if j.shared:
            positions.setdefault((j.user_id, j.project_id), []).append(i)
    assert len(positions) == 6
    for pos in positions.values():
        assert pos == list(range(pos[0], pos[0] + len(pos)))


def test_the_chaos_clock_spreads_restarts_and_alternates_outages() -> None:
    clock = ChaosClock(1, ScenarioSizes(kills=50, pg_restarts=2))
    assert clock.pg_restart_after_kills() == [17, 33]
    assert [clock.pg_mode(i) for i in range(2)] == ["fast", "immediate"]
    assert clock.pg_downtime(0, 2.0) <= 1.0
    assert clock.pg_downtime(1, 2.0) > 2.0  # longer than the lease
    assert all(g > 0 for g in (clock.next_kill_gap() for _ in range(100)))


# --------------------------------------------------------------------------- history


def test_job_commits_reads_the_trailers_of_every_commit() -> None:
    log = "".join(
        f"{sha}{FIELD_SEP}{body}{COMMIT_SEP}\n"
        for sha, body in (
            ("c3", "Restore to c1\n\nEngine-Job: b\nEngine-Cost-USD: 0.0000\n"),
            ("c2", "a snake\n\nEngine-Job: a\nEngine-Models: offline\n"),
            ("c1", "a snake\n\nEngine-Job: a\n"),
            ("c0", "initial commit by a human\n"),
        )
    )
    assert job_commits(log) == {"b": ["c3"], "a": ["c2", "c1"]}
    assert job_commits("") == {}


# --------------------------------------------------------------------------- classify


def test_a_job_that_won_once_breaks_nothing() -> None:
    v = classify(OK)
    assert not (v.lost or v.published_twice or v.published_then_failed_over or v.completed_twice)
    assert v.anomalies == ()
    assert classify(FELL_BACK).anomalies == ()


@pytest.mark.parametrize(
    "kw",
    [
        {"status": None},  # never ran
        {"status": "running"},  # still going after everything settled
        {"status": "failed", "draining": True},  # outcome decided, tasks still open
        {"v2_completions": 0},  # succeeded, but nobody completed public.jobs
    ],
)
def test_lost(kw: dict[str, object]) -> None:
    assert classify(facts(**kw)).lost


def test_a_chat_answer_completes_nothing_and_is_not_lost() -> None:
    chat = facts(result_type="chat", commits=0, v2_completions=0)
    assert not classify(chat).lost
    assert classify(chat).anomalies == ()


def test_published_twice_and_completed_twice() -> None:
    assert classify(facts(commits=2)).published_twice
    assert classify(facts(v2_completions=2)).completed_twice
    assert classify(dataclasses.replace(FELL_BACK, v2_completions=1)).completed_twice


@pytest.mark.parametrize(
    "kw",
    [
        {"commits": 1},  # v2's commit live, the run failed: v1 ran on top of it
        {"commits": 1, "status": "canceled", "error_code": "canceled"},
        {"v2_completions": 1, "status": "succeeded"},  # v2 completed a run that fell back
    ],
)
def test_published_then_failed_over(kw: dict[str, object]) -> None:
    assert classify(dataclasses.replace(FELL_BACK, **kw)).published_then_failed_over  # type: ignore[arg-type]


def test_anomalies() -> None:
    assert classify(facts(commits=0)).anomalies == ("succeeded_not_published",)
    # production already held exactly this job's tree: a success with nothing to commit
    assert classify(facts(commits=0, unchanged=True)).anomalies == ()
    assert classify(facts(designed_to_fail=True)).anomalies == ("designed_failure_succeeded",)
    no_v1 = dataclasses.replace(FELL_BACK, v1_completions=0)
    assert classify(no_v1).anomalies == ("fallback_without_v1",)


# --------------------------------------------------------------------------- tally


def test_the_killed_share_leaves_out_designed_failures_and_lost_races() -> None:
    race = dataclasses.replace(
        FELL_BACK, job_id="race", shared=True, error_code="v2_concurrent_apply",
        rival_published=True,
    )  # fmt: skip
    t = tally(
        [
            facts(job_id="a", losses=1),
            facts(job_id="b", losses=2),
            dataclasses.replace(FELL_BACK, job_id="c", losses=1),  # a real loss
            dataclasses.replace(FELL_BACK, job_id="d", designed_to_fail=True),
            dataclasses.replace(race, losses=1),
            # Its project moved, but no rival of it is live: not a legitimate race.
            dataclasses.replace(race, job_id="e", rival_published=False),
            facts(job_id="f", killed=False),
        ]
    )
    assert t.jobs == 7 and t.killed == 5 and t.killed_succeeded == 2 and t.killed_races == 1
    assert t.killed_share == pytest.approx(2 / 4)
    assert t.killed_share_strict == pytest.approx(2 / 5)
    assert t.by_losses == {1: [3, 1], 2: [1, 1], 0: [1, 0]}
    assert t.killed_failures == {"v2_task_failed": 1, "v2_concurrent_apply": 2}
    assert t.safety_met() and not t.bar_met()
    # "c" (killed) and "e" (no rival live) fell back for no reason of the scenario's.
    assert t.failed_unexpectedly == {"v2_task_failed": ["c"], "v2_concurrent_apply": ["e"]}
    assert t.as_dict()["bar_met"] is False


def test_the_bar() -> None:
    ok = [facts(job_id=str(i)) for i in range(19)]
    assert tally(ok).bar_met()
    one_in_twenty = tally([*ok, dataclasses.replace(FELL_BACK, job_id="x")])
    assert one_in_twenty.killed_share == pytest.approx(0.95) and one_in_twenty.bar_met()
    twice = tally([*ok, facts(job_id="y", commits=2)])
    assert twice.published_twice == ["y"] and not twice.bar_met()
    assert not tally([facts(killed=False)]).bar_met()  # nothing was killed: nothing shown


def test_kill_points() -> None:
    kills = [
        {"jobs": [{"job_id": "a", "running": ["codegen", "asset"]}, {"job_id": "b"}]},
        {"jobs": [{"job_id": "a", "running": ["publish_prep"]}]},
        {"jobs": []},
    ]
    assert kill_points(kills) == {"codegen": 1, "asset": 1, "publish_prep": 1, "between": 1}
