"""The host server's side of the chaos run: its connection (which outlives PostgreSQL
restarts), its submit (``INSERT public.jobs`` + ``engine_v2.submit_job`` in one
transaction), the v1 stand-in that takes every fallback, and the trigger counting every
completion of public.jobs with who made it."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ..common import BenchError, Deadline
from .plan import JobSpec

HOST_APP, V1_APP = "chaos-host", "chaos-v1"
V1_POLL_S = 0.3

# The host's side: every transition of public.jobs to completed, and who made it.
COMPLETIONS_SQL = """
CREATE TABLE public.chaos_completions (
  job_id uuid NOT NULL,
  by_app text NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION public.chaos_count_completion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.chaos_completions (job_id, by_app)
  VALUES (NEW.id, current_setting('application_name'));
  RETURN NEW;
END $$;
CREATE TRIGGER chaos_count_completion AFTER UPDATE OF status ON public.jobs
  FOR EACH ROW WHEN (NEW.status = 'completed') EXECUTE FUNCTION public.chaos_count_completion();
"""


class Db:
    """One autocommit connection that reconnects: the run outlives PostgreSQL restarts.
    Every call retries on a connection error until its deadline."""

    def __init__(self, url: str, app: str) -> None:
        self.url, self.app = url, app
        self.conn: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(
                self.url,
                autocommit=True,
                application_name=self.app,
                connect_timeout=3,
                options="-c statement_timeout=30000",
                row_factory=psycopg.rows.dict_row,
            )
        return self.conn

    def call(self, fn: Any, *, within_s: float = 60.0, what: str = "a query") -> Any:
        """``fn(conn)``, retried on a lost connection until ``within_s`` passed."""
        deadline = Deadline(within_s, what)
        while True:
            try:
                return fn(self._connect())
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self.close()
                if deadline.remaining <= 0:
                    raise BenchError(
                        f"{what}: database unreachable for {within_s:.0f} s: {exc}"
                    ) from exc
                time.sleep(0.2)

    def rows(self, sql: str, params: Any = None, **kw: Any) -> list[dict[str, Any]]:
        return self.call(lambda c: c.execute(sql, params).fetchall(), **kw)

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None


def submit(db: Db, job: JobSpec) -> None:
    """As the Node server does: its public.jobs row, then submit_job, one transaction.
    A retry after a lost connection finds the row (and the run) already there."""

    def go(conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute(
                "INSERT INTO public.jobs (id, user_id, project_id, status)"
                " VALUES (%s, %s, %s, 'pending') ON CONFLICT (id) DO NOTHING",
                (job.job_id, job.user_id, job.project_id),
            )
            conn.execute(
                "SELECT engine_v2.submit_job(%s, %s, %s, %s, %s)",
                (job.job_id, job.user_id, job.project_id, job.message, Jsonb(job.options)),
            )

    db.call(go, what=f"submitting job {job.index}")


class V1StandIn:
    """The host server's fallback: for every run that signalled fallback, v1 runs and
    completes public.jobs (once, as today's server would, whatever v2 did)."""

    def __init__(self, url: str) -> None:
        self.db = Db(url, V1_APP)
        self.handled: dict[str, float] = {}
        self.next_at = 0.0

    def poll(self, now: float, force: bool = False) -> None:
        if not force and now < self.next_at:
            return
        self.next_at = now + V1_POLL_S
        rows = self.db.rows(
            "SELECT job_id::text AS job_id FROM engine_v2.job_runs"
            " WHERE fallback_triggered AND NOT (job_id = ANY(%s::uuid[]))",
            (list(self.handled),),
            what="v1 stand-in poll",
        )
        for r in rows:
            self.db.call(
                lambda c, j=r["job_id"]: c.execute(
                    "UPDATE public.jobs SET status = 'completed', updated_at = now() WHERE id = %s",
                    (j,),
                ),
                what="v1 stand-in completion",
            )
            self.handled[r["job_id"]] = now
