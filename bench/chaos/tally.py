"""What the chaos run counts, from facts gathered after everything settled: per job, the
run's row, the completions of public.jobs (by v2 and by the v1 stand-in) and the commits
carrying its ``Engine-Job`` trailer in its production project's history. Pure."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

TRAILER = re.compile(r"^Engine-Job:\s*(\S+)\s*$", re.MULTILINE)
# git log --format=%H%x1f%B%x1e: one record per commit.
COMMIT_SEP, FIELD_SEP = "\x1e", "\x1f"
GIT_LOG_FORMAT = "--format=%H%x1f%B%x1e"

# The bar.
MIN_KILLED_FINISH_SHARE = 0.95


def job_commits(git_log: str) -> dict[str, list[str]]:
    """Commits per ``Engine-Job`` trailer value in ``git log GIT_LOG_FORMAT`` output."""
    out: dict[str, list[str]] = {}
    for record in git_log.split(COMMIT_SEP):
        record = record.strip("\n")
        if not record:
            continue
        sha, _, body = record.partition(FIELD_SEP)
        for job_id in TRAILER.findall(body):
            out.setdefault(job_id, []).append(sha.strip())
    return out


@dataclass(frozen=True)
class JobFacts:
    job_id: str
    designed_to_fail: bool
    shared: bool  # its project is shared (a v2_concurrent_apply is legitimate)
    killed: bool  # a daemon holding it was SIGKILLed while it ran
    status: str | None  # job_runs.status; None: no run at all
    error_code: str | None = None
    fallback_triggered: bool = False
    draining: bool = False
    result_type: str | None = None  # job_runs.result->>'type' (completed | chat)
    unchanged: bool = False  # publish_prep found production already equal: nothing to commit
    commits: int = 0  # commits with its trailer in production's HEAD history
    v2_completions: int = 0  # public.jobs -> completed by the daemon
    v1_completions: int = 0  # public.jobs -> completed by the v1 stand-in
    losses: int = 0  # how many times a daemon holding it died
    rival_published: bool = False  # another job of its project is live in production

    @property
    def lost_race(self) -> bool:
        """A legitimate failure: its project moved under it (another job of the same
        project published first, or was publishing), design 10.3."""
        return self.shared and self.error_code == "v2_concurrent_apply" and self.rival_published


@dataclass(frozen=True)
class Verdict:
    lost: bool
    published_twice: bool
    published_then_failed_over: bool
    completed_twice: bool
    anomalies: tuple[str, ...]  # other broken invariants, by name


def classify(f: JobFacts) -> Verdict:
    """One job. Lost: no run, a run still going after everything settled, or nobody
    (neither v2 nor v1) ever completed the job. Published then failed over: its commit is
    live but the run failed or was canceled (v1 then ran on top of it), or v2 completed
    public.jobs for a run that also signalled fallback."""
    ended = f.status in ("succeeded", "failed", "canceled") and not f.draining
    completions = f.v1_completions + f.v2_completions
    chat = f.status == "succeeded" and f.result_type == "chat"
    lost = not ended or (completions == 0 and not chat)
    failed_over = f.status in ("failed", "canceled") or f.fallback_triggered
    anomalies = []
    if f.status == "succeeded" and not chat and f.commits == 0 and not f.unchanged:
        anomalies.append("succeeded_not_published")
    if f.status == "succeeded" and not chat and f.v2_completions == 0:
        anomalies.append("succeeded_not_completed")
    if f.designed_to_fail and f.status == "succeeded":
        anomalies.append("designed_failure_succeeded")
    if failed_over and f.v1_completions == 0 and ended:
        anomalies.append("fallback_without_v1")
    return Verdict(
        lost=lost,
        published_twice=f.commits > 1,
        published_then_failed_over=(f.commits > 0 and failed_over)
        or (f.v2_completions > 0 and f.fallback_triggered),
        completed_twice=completions > 1,
        anomalies=tuple(anomalies),
    )


@dataclass
class Tally:
    jobs: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    fallback_codes: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    published_twice: list[str] = field(default_factory=list)
    published_then_failed_over: list[str] = field(default_factory=list)
    completed_twice: list[str] = field(default_factory=list)
    anomalies: dict[str, list[str]] = field(default_factory=dict)
    killed: int = 0  # killed jobs not designed to fail
    killed_succeeded: int = 0
    killed_failures: Counter[str] = field(default_factory=Counter)  # their error codes
    killed_races: int = 0  # of those, lost a legitimate publish race (JobFacts.lost_race)
    # Every job (killed or not) that fell back although it was not designed to fail and
    # lost no publish race, by error code: what the chaos cost beyond the bar's measure.
    failed_unexpectedly: dict[str, list[str]] = field(default_factory=dict)
    # killed jobs (not designed to fail) by how often their daemon died: [jobs, succeeded]
    by_losses: dict[int, list[int]] = field(default_factory=dict)

    @property
    def killed_share(self) -> float | None:
        """Killed jobs that still finished in v2 (succeeded), among those that could:
        not designed to fail and not a legitimate publish race lost."""
        n = self.killed - self.killed_races
        return self.killed_succeeded / n if n else None

    @property
    def killed_share_strict(self) -> float | None:
        """The same share counting lost publish races as failures to finish."""
        return self.killed_succeeded / self.killed if self.killed else None

    def safety_met(self) -> bool:
        return not (
            self.lost
            or self.published_twice
            or self.published_then_failed_over
            or self.completed_twice
        )

    def bar_met(self, share: float | None = None) -> bool:
        share = self.killed_share if share is None else share
        return self.safety_met() and share is not None and share >= MIN_KILLED_FINISH_SHARE

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "by_status": dict(self.by_status),
            "fallback_codes": dict(self.fallback_codes),
            "lost": self.lost,
            "published_twice": self.published_twice,
            "published_then_failed_over": self.published_then_failed_over,
            "completed_twice": self.completed_twice,
            "anomalies": self.anomalies,
            "killed": self.killed,
            "killed_succeeded": self.killed_succeeded,
            "killed_failures": dict(self.killed_failures),
            "killed_races": self.killed_races,
            "killed_share": self.killed_share,
            "killed_share_strict": self.killed_share_strict,
            "by_losses": {str(k): v for k, v in sorted(self.by_losses.items())},
            "failed_unexpectedly": self.failed_unexpectedly,
            "bar_met": self.bar_met(),
            "bar_met_strict": self.bar_met(self.killed_share_strict or 0.0),
        }


def tally(facts: Iterable[JobFacts]) -> Tally:
    t = Tally()
    for f in facts:
        t.jobs += 1
        t.by_status[f.status or "none"] += 1
        if f.fallback_triggered:
            t.fallback_codes[f.error_code or "?"] += 1
        v = classify(f)
        for name, hit in (
            ("lost", v.lost),
            ("published_twice", v.published_twice),
            ("published_then_failed_over", v.published_then_failed_over),
            ("completed_twice", v.completed_twice),
        ):
            if hit:
                getattr(t, name).append(f.job_id)
        for name in v.anomalies:
            t.anomalies.setdefault(name, []).append(f.job_id)
        if f.status in ("failed", "canceled") and not (f.designed_to_fail or f.lost_race):
            t.failed_unexpectedly.setdefault(f.error_code or f.status, []).append(f.job_id)
        if f.killed and not f.designed_to_fail:
            t.killed += 1
            row = t.by_losses.setdefault(f.losses, [0, 0])
            row[0] += 1
            if f.status == "succeeded":
                t.killed_succeeded += 1
                row[1] += 1
            else:
                t.killed_failures[f.error_code or f.status or "none"] += 1
                t.killed_races += f.lost_race
    return t


def kill_points(kills: Iterable[Mapping[str, Any]]) -> Counter[str]:
    """How often each task was running at a kill (a job between tasks counts as
    ``between``); ``kills`` are the run's kill records with their ``running`` tasks."""
    c: Counter[str] = Counter()
    for k in kills:
        for job in k.get("jobs") or []:
            tasks = job.get("running") or []
            if not tasks:
                c["between"] += 1
            for key in tasks:
                c[key] += 1
    return c
