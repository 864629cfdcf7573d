"""The chaos run's scenario, drawn from one seed: which jobs, on which projects, failing
where, with which task latencies, submitted when; when the daemons are killed, how long
they stay down, and when PostgreSQL restarts. Pure (no I/O), so a seed replays the same
scenario (the timing of the machine does not replay)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

# Injected latency per task (ms, drawn uniformly): jobs live a few seconds, so a kill
# usually finds tasks running. The critical path is ~2.5-5 s.
LATENCY_MS: dict[str, tuple[int, int]] = {
    "intent": (150, 400),
    "plan": (200, 500),
    "codegen": (700, 1800),
    "asset": (500, 1500),
    "qa_review": (200, 500),
    "fix": (300, 700),
    "publish_prep": (100, 400),
}
# A designed failure fails every attempt of one task: far above max_attempts plus the
# takeovers (each lost attempt adds one), so it can never succeed by chance.
FAIL_TIMES = 99
# Tasks that always run (fix is skipped when qa_review finds nothing: no failure there).
FAIL_TASKS = ("intent", "plan", "codegen", "asset", "qa_review")
# Edits (never chat or restore: those publish nothing or need history) in the offline
# provider's five templates; the later jobs of a shared project edit the same game.
FIRST_MESSAGES = (
    "make me a neon snake game",
    "make a breakout game with red bricks",
    "build a space shooter with lots of enemies",
    "make an endless runner with a cat",
    "make a cookie clicker game",
)
EDIT_MESSAGES = (
    "make it faster",
    "make the colors blue",
    "make it harder and add more enemies",
    "make the background darker",
)


@dataclass(frozen=True)
class JobSpec:
    index: int
    job_id: str
    user_id: str
    project_id: str
    message: str
    options: dict[str, Any]
    at_s: float  # submit time, seconds after the chaos phase started
    shared: bool  # its project is shared with other jobs (publishes contend)
    fail_task: str | None = None  # designed to fail: every attempt of this task fails

    @property
    def designed_to_fail(self) -> bool:
        return self.fail_task is not None


@dataclass(frozen=True)
class ScenarioSizes:
    jobs: int = 60
    shared_projects: int = 6  # projects that several jobs edit
    jobs_per_shared: int = 3
    failing: int = 6  # jobs designed to fail
    submit_span_s: float = 50.0  # submits spread over this many seconds
    kills: int = 50
    pg_restarts: int = 2


@dataclass
class Scenario:
    seed: int
    sizes: ScenarioSizes
    jobs: list[JobSpec] = field(default_factory=list)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def latency_options(rng: random.Random) -> dict[str, dict[str, Any]]:
    return {k: {"latency_ms": rng.randint(lo, hi)} for k, (lo, hi) in LATENCY_MS.items()}


def plan_jobs(rng: random.Random, sizes: ScenarioSizes) -> list[JobSpec]:
    """``sizes.jobs`` jobs: ``shared_projects`` projects edited by ``jobs_per_shared`` jobs
    each (submitted within a second or two of each other so their publishes contend),
    the rest on a project of their own; ``failing`` of the solo jobs fail on purpose."""
    n_shared = min(sizes.jobs, sizes.shared_projects * sizes.jobs_per_shared)
    times = sorted(rng.uniform(0, sizes.submit_span_s) for _ in range(sizes.jobs))
    slots: list[tuple[str, str, bool]] = []  # (user, project, shared) per job
    for g in range(sizes.shared_projects):
        user, project = _uuid(rng), f"shared-{g}"
        slots += [(user, project, True)] * sizes.jobs_per_shared
    slots = slots[:n_shared]
    slots += [(_uuid(rng), f"solo-{i}", False) for i in range(sizes.jobs - n_shared)]
    # Shared jobs keep their group together in time: a group takes consecutive submit
    # times starting at a random position.
    order = _interleave(rng, slots)
    solo = [i for i, s in enumerate(order) if not s[2]]
    failing = set(rng.sample(solo, min(sizes.failing, len(solo))))
    seen: set[tuple[str, str]] = set()
    jobs = []
    for i, ((user, project, shared), at) in enumerate(zip(order, times, strict=True)):
        first = (user, project) not in seen
        seen.add((user, project))
        message = rng.choice(FIRST_MESSAGES if first else EDIT_MESSAGES)
        inject = latency_options(rng)
        fail_task = rng.choice(FAIL_TASKS) if i in failing else None
        if fail_task:
            inject[fail_task]["fail_times"] = FAIL_TIMES
        jobs.append(
            JobSpec(
                index=i,
                job_id=_uuid(rng),
                user_id=user,
                project_id=project,
                message=message,
                options={"inject": inject},
                at_s=round(at, 3),
                shared=shared,
                fail_task=fail_task,
            )
        )
    return jobs


def _interleave(
    rng: random.Random, slots: list[tuple[str, str, bool]]
) -> list[tuple[str, str, bool]]:
    """Solo jobs shuffled, each shared group inserted as one consecutive block."""
    groups: dict[tuple[str, str], list[tuple[str, str, bool]]] = {}
    for s in slots:
        if s[2]:
            groups.setdefault((s[0], s[1]), []).append(s)
    solos = [s for s in slots if not s[2]]
    rng.shuffle(solos)
    blocks: list[list[tuple[str, str, bool]]] = [[s] for s in solos] + list(groups.values())
    rng.shuffle(blocks)
    return [s for block in blocks for s in block]


def scenario(seed: int, sizes: ScenarioSizes) -> Scenario:
    rng = random.Random(seed)
    return Scenario(seed=seed, sizes=sizes, jobs=plan_jobs(rng, sizes))


class ChaosClock:
    """The random parts of the chaos itself (kill gaps, victims, restart delays),
    from its own stream of the seed so they do not shift the job plan."""

    def __init__(self, seed: int, sizes: ScenarioSizes) -> None:
        self.rng = random.Random(seed * 7919 + 1)
        self.sizes = sizes
        # Kills spread over the submit span and a little after it.
        self.mean_gap_s = sizes.submit_span_s * 1.15 / max(1, sizes.kills)

    def next_kill_gap(self) -> float:
        return self.rng.uniform(0.4, 1.6) * self.mean_gap_s

    def victim(self, alive: list[str]) -> str:
        return self.rng.choice(sorted(alive))

    def restart_delay(self) -> float:
        """Right away (40 %) or after a short random delay."""
        return 0.0 if self.rng.random() < 0.4 else self.rng.uniform(0.2, 2.5)

    def pg_restart_after_kills(self) -> list[int]:
        """PostgreSQL restarts after these kill counts (evenly spread)."""
        n = self.sizes.pg_restarts
        return [round(self.sizes.kills * (i + 1) / (n + 1)) for i in range(n)]

    def pg_mode(self, i: int) -> str:
        return "fast" if i % 2 == 0 else "immediate"

    def pg_downtime(self, i: int, lease_s: float) -> float:
        """How long PostgreSQL stays down. Alternately a plain restart (shorter than the
        lease: the daemons ride it out) and an outage longer than the lease (the daemons
        presume their leases lost and abort their jobs, which others take over)."""
        if i % 2 == 0:
            return self.rng.uniform(0.0, 0.5 * lease_s)
        return self.rng.uniform(1.25 * lease_s, 2.0 * lease_s)
