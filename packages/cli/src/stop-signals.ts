/** Signals that stop a training run gracefully (checkpoint first), with the exit code each ends with (128 + its number). */
export const STOP_SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
export type StopSignal = keyof typeof STOP_SIGNALS;

export interface StopSignalWatch {
  /** Aborted by the first stop signal. */
  readonly signal: AbortSignal;
  /** The signal that stopped the run, if one did. */
  stoppedBy(): StopSignal | undefined;
  dispose(): void;
}

/**
 * Ctrl-C (SIGINT), SIGTERM (timeout, docker stop, systemd, Slurm) and SIGHUP (a closed terminal) all stop a
 * run the same way: the first one aborts, so the trainer finishes its step, checkpoints and returns; a second
 * one exits at once with the same code. That never leaves the run directory unresumable: checkpoints are
 * written whole and renamed into place (the newest complete one is used), a run without one yet starts
 * over, and process exit removes run.lock.
 */
export function watchStopSignals(onFirst: (signal: StopSignal) => void): StopSignalWatch {
  const abort = new AbortController();
  let stoppedBy: StopSignal | undefined;
  const handlers = (Object.keys(STOP_SIGNALS) as StopSignal[]).map((signal) => {
    const handler = () => {
      if (abort.signal.aborted) process.exit(STOP_SIGNALS[signal]);
      stoppedBy = signal;
      abort.abort();
      onFirst(signal);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return {
    signal: abort.signal,
    stoppedBy: () => stoppedBy,
    dispose() {
      for (const [signal, handler] of handlers) process.off(signal, handler);
    },
  };
}
