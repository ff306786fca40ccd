// Types for client.mjs, so the TypeScript tests can drive the same load client as the
// demo and the benchmarks.
export type FailureKind = 'refused' | 'reset' | 'timeout' | 'non2xx' | 'other';

export interface LoadStats {
  requests: number;
  ok: number;
  failed: number;
  byKind: Record<FailureKind, number>;
  /** Answers per responding PID (the last word of each 2xx body). */
  pids: Map<string, number>;
  errors: string[];
  elapsedMs: number;
}

export function failureKind(err: unknown): FailureKind;

export function startLoad(opts: {
  host?: string;
  port: number;
  path?: string;
  concurrency?: number;
  keepAlive?: boolean;
  maxRequests?: number;
  maxMs?: number;
  timeoutMs?: number;
  /** After each finished request: null for a 2xx answer, else the kind counted; sentAt is performance.now() when it was sent. */
  onResult?: (failure: FailureKind | null, sentAt: number) => void;
}): { stats: LoadStats; done: Promise<LoadStats>; stop(): Promise<LoadStats> };
