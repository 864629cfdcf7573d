// Types for enginev2d-client (the host Node server's side of enginev2d's SQL/NOTIFY contract).

/** Design section 15's codes, lower case, plus `canceled`. */
export type FallbackCode =
  | 'v2_output_invalid'
  | 'v2_task_failed'
  | 'v2_timeout'
  | 'v2_scheduler_error'
  | 'v2_dag_deadlock'
  | 'v2_staging_error'
  | 'v2_concurrent_apply'
  | 'v2_unknown'
  | 'canceled';

export const CODES: readonly FallbackCode[];
/** SQLSTATE -> [code, reason] (the README's table). */
export const SQLSTATES: ReadonlyMap<string, [FallbackCode, string]>;
/** Event types `events: 'ui'` forwards (plus run's final `completed` message). */
export const UI_EVENTS: readonly string[];
export const DEFAULT_DEADLINE_MS: number;

/** Who decided the fallback: `engine` = the daemon ended the run and recorded it itself. */
export type ErrorSource = 'engine' | 'deadline' | 'abort' | 'submit' | 'database' | 'server';

export class EngineV2Error extends Error {
  constructor(
    code: FallbackCode,
    message: string,
    info?: {
      jobId?: string;
      source?: ErrorSource;
      reason?: string;
      sqlstate?: string;
      taskKey?: string;
      answer?: CancelAnswer;
      cause?: unknown;
    },
  );
  readonly name: 'EngineV2Error';
  readonly code: FallbackCode;
  readonly jobId: string | null;
  readonly source: ErrorSource;
  /** Finer cause: invalid_request, no_job_row, not_permitted, not_installed, database_unavailable, ... */
  readonly reason: string | null;
  readonly sqlstate: string | null;
  readonly taskKey: string | null;
  /** cancel_job's answer when the deadline or an abort ended the run. */
  readonly answer: CancelAnswer | null;
}

/** `canceled`: v2 publishes and completes nothing (run v1); `completed`: v2 won (do not run v1);
 * `pending`: v2's daemon died mid-publish, the run's last event decides. */
export type CancelAnswer = 'canceled' | 'completed' | 'pending';

export interface V1File {
  path: string;
  content: string;
}
export interface V1Image {
  name: string;
  uri: string;
}
/** Design 14: what v1 sends to the frontend on success. */
export interface V1Response {
  type: 'completed';
  files: V1File[];
  images: V1Image[];
  summary: string;
}
/** A chat run (intent `chat`): `reply` is null until the engine writes one. */
export interface ChatResult {
  type: 'chat';
  reply: string | null;
}

/** An event as relayed: the row's `data` flattened, with `seq` as a number. */
export interface EngineV2Event {
  type: string;
  seq: number;
  job_id: string;
  created_at?: Date;
  progress?: number;
  task_key?: string;
  label?: string;
  /** true on the run's last event only (jobCompleted, fallback or jobCanceled). */
  final?: boolean;
  ref?: 'inline' | 'uri';
  files?: Array<{ path: string; content?: string; bytes?: number; uri?: string }>;
  [key: string]: unknown;
}
/** `run`'s last message for the browser (`events: 'ui'`): the v1 response. */
export interface CompletedMessage extends V1Response {
  job_id: string;
}

export interface VerifiedUser {
  id?: string;
  email?: string;
}

export interface Logger {
  warn(message: string): void;
}

/** A node-postgres Pool (structurally: what the client uses of it). */
export interface PgPoolLike {
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
  /** The pool's connection settings: the LISTEN connection is opened with the same. */
  options?: Record<string, unknown>;
}

export interface EngineV2Options {
  /** Your pg Pool (not ended by close()); or connectionString (+ ssl) for one of ours. */
  pool?: PgPoolLike;
  connectionString?: string;
  /** node-postgres' ssl setting (true, false or tls options). */
  ssl?: boolean | Record<string, unknown>;
  /** Where ENGINE_V2_* are read (design 4), once, at creation. Default process.env. */
  env?: Record<string, string | undefined>;
  /** Default for run/follow: `ui` forwards only the events meant for the browser. Default `ui`. */
  events?: 'ui' | 'all';
  /** Default deadline of run (ms; null = none). Default 630000, above the daemon's job_timeout_s. */
  deadlineMs?: number | null;
  logger?: Logger;
  /** LISTEN reconnect backoff. Default {initialMs: 100, maxMs: 5000}. */
  backoff?: { initialMs: number; maxMs: number };
  /** Safety-net catch-up period while jobs are followed (0 = none). Default 10000. */
  pollMs?: number;
  /** Bound on cancel_job at the deadline and on logFallback. Default 5000. */
  timeoutMs?: number;
  /** application_name of our connections (the LISTEN one gets `-listen`). */
  applicationName?: string;
}

export interface RunOptions {
  /** The public.jobs id the server already inserted. */
  jobId: string;
  onEvent?: (event: EngineV2Event | CompletedMessage) => void | Promise<void>;
  /** Give up after this many ms: cancel_job decides (null = no deadline). */
  deadlineMs?: number | null;
  /** Same as the deadline when aborted (AbortSignal.timeout gives v2_timeout, else canceled). */
  signal?: AbortSignal;
  /** `live` (default) or `shadow` (M3: never publishes). */
  mode?: 'live' | 'shadow';
  events?: 'ui' | 'all';
  /** Rehearsals only: honoured when the daemon runs with testing.allow_inject = true. */
  inject?: Record<string, { fail_times?: number; latency_ms?: number; output?: object }>;
}

export interface FollowOptions {
  /** Deliver events with seq > after. Default 0. */
  after?: number;
  events?: 'ui' | 'all';
  signal?: AbortSignal;
}

export interface RelayStats {
  listening: boolean;
  followed: number;
  connects: number;
  reconnects: number;
  /**
   * NOTIFY engine_v2_events received: one per committing transaction, naming every job it
   * wrote events for, `{"jobs": {"<job_id>": <last seq>, ...}}` (an older daemon's
   * `{"job_id", "seq"}` is read too).
   */
  notifications: number;
  fetches: number;
  fetchErrors: number;
}

export interface EngineV2 {
  /** Design 4: ENGINE_V2_ENABLED, ENGINE_V2_ALLOWLIST_ONLY, ENGINE_V2_ALLOWLIST. */
  shouldUseV2(verifiedUser: VerifiedUser | null | undefined): boolean;
  /** Submit and follow to the last event. Rejects with EngineV2Error whenever v1 must run. */
  run(userId: string, projectId: string, message: string, options: RunOptions): Promise<V1Response | ChatResult>;
  validateOutput(result: unknown): boolean;
  toV1Response(v2Result: unknown): V1Response;
  isChat(result: unknown): result is ChatResult;
  /** engine_v2.log_fallback; never throws. 'chat' for a chat run (nothing recorded); null if the database could not be told. */
  logFallback(jobId: string, err: unknown): Promise<CancelAnswer | 'chat' | null>;
  /** The relay alone: resolves with the last event (null if close() stopped it). */
  follow(
    jobId: string,
    onEvent: (event: EngineV2Event) => void | Promise<void>,
    options?: FollowOptions,
  ): Promise<EngineV2Event | null>;
  cancel(jobId: string, reason?: string | null): Promise<CancelAnswer>;
  /** `engine_v2://job_task_artifacts/<id>` -> the row's content (`{path, content}` for files). */
  resolveArtifact(uri: string): Promise<unknown>;
  close(): Promise<void>;
  stats(): RelayStats;
}

export function createEngineV2(options: EngineV2Options): EngineV2;
export function validateOutput(result: unknown): boolean;
export function toV1Response(v2Result: unknown): V1Response;
export function isChat(result: unknown): result is ChatResult;
export function fallbackCode(err: unknown): FallbackCode;
export function shouldUseV2FromEnv(env: Record<string, string | undefined>, verifiedUser: VerifiedUser | null | undefined): boolean;

declare const _default: {
  createEngineV2: typeof createEngineV2;
  EngineV2Error: typeof EngineV2Error;
  CODES: typeof CODES;
  SQLSTATES: typeof SQLSTATES;
  UI_EVENTS: typeof UI_EVENTS;
  DEFAULT_DEADLINE_MS: typeof DEFAULT_DEADLINE_MS;
  validateOutput: typeof validateOutput;
  toV1Response: typeof toV1Response;
  isChat: typeof isChat;
  fallbackCode: typeof fallbackCode;
  shouldUseV2FromEnv: typeof shouldUseV2FromEnv;
};
export default _default;
