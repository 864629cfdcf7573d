"""A finished attempt, as the scheduler records it: one value, one outcome, one SQL
function per outcome (``sql/functions/40_completion.sql``), one round trip.

* ``succeeded``: output, artifacts, the 7.4 skip marks and the partialResult data;
* ``failed``: the structured error; whether another attempt follows (``taskRetry``) or
  the task fails for good is the database's decision (retryable and budget left);
* ``canceled``: the attempt obeyed a stop.

A *lost* attempt (its daemon died) is never reported by a worker: the takeover closes it
(``recover_job``). The fencing token is ``attempt``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from psycopg.types.json import Jsonb

from .errors import job_error_code

Outcome = Literal["succeeded", "failed", "canceled"]


@dataclass(frozen=True)
class Completion:
    task_id: str
    attempt: int
    outcome: Outcome
    usage: Mapping[str, Any] = field(default_factory=dict)  # latency_ms, tokens, cost_usd
    output: Mapping[str, Any] | None = None
    input: Mapping[str, Any] | None = None
    error: Mapping[str, Any] | None = None
    artifacts: Sequence[Mapping[str, Any]] = ()
    skip: Mapping[str, str] | None = None
    partial: Mapping[str, Any] | None = None

    @classmethod
    def succeeded(
        cls,
        task_id: str,
        attempt: int,
        output: Mapping[str, Any],
        *,
        usage: Mapping[str, Any] | None = None,
        input: Mapping[str, Any] | None = None,
        artifacts: Sequence[Mapping[str, Any]] = (),
        skip: Mapping[str, str] | None = None,
        partial: Mapping[str, Any] | None = None,
    ) -> Completion:
        return cls(
            task_id, attempt, "succeeded", usage or {}, output, input or None, None,
            artifacts, skip or None, partial,
        )  # fmt: skip

    @classmethod
    def failed(
        cls,
        task_id: str,
        attempt: int,
        error: Mapping[str, Any],
        *,
        usage: Mapping[str, Any] | None = None,
        input: Mapping[str, Any] | None = None,
    ) -> Completion:
        return cls(task_id, attempt, "failed", usage or {}, input=input or None, error=error)

    @classmethod
    def canceled(
        cls,
        task_id: str,
        attempt: int,
        error: Mapping[str, Any],
        *,
        usage: Mapping[str, Any] | None = None,
    ) -> Completion:
        return cls(task_id, attempt, "canceled", usage or {}, error=error)

    @property
    def query(self) -> str:
        """The named query (``sql/queries/scheduler.sql``) recording this outcome."""
        return f"task_{self.outcome}"

    def arguments(
        self, job_id: str, owner: str | None, *, claim: bool, more: int
    ) -> dict[str, Any]:
        """The SQL function's arguments by name, as plain values (the group completer
        sends them as one jsonb entry; :meth:`params` wraps them for one call)."""
        base = {
            "job_id": job_id,
            "task_id": self.task_id,
            "attempt": self.attempt,
            "owner": owner,
            "usage": dict(self.usage),
        }
        if self.outcome == "canceled":
            return {**base, "error": self.error}
        claims = {"claim": claim, "more": more if claim else 0}
        if self.outcome == "failed":
            code = job_error_code((self.error or {}).get("code"))
            return {
                **base, **claims, "error": self.error, "input": self.input,
                "job_error_code": code,
            }  # fmt: skip
        return {
            **base,
            **claims,
            "output": self.output,
            "input": self.input,
            "artifacts": list(self.artifacts) if self.artifacts else None,
            "skip": self.skip,
            "partial": self.partial,
        }

    def params(self, job_id: str, owner: str | None, *, claim: bool, more: int) -> dict[str, Any]:
        """Parameters of the outcome's named query."""
        return jsonb_params(self.arguments(job_id, owner, claim=claim, more=more))


def jsonb_params(args: Mapping[str, Any]) -> dict[str, Any]:
    """A scheduler function's arguments as query parameters: objects and arrays (outputs,
    errors, usage, artifacts, a workflow's tasks) go as jsonb."""
    return {k: Jsonb(v) if isinstance(v, Mapping | list | tuple) else v for k, v in args.items()}
