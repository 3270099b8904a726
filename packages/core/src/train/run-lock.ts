import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { SslError } from '../errors';

/** The file in a run directory that names the process training in it. */
export const RUN_LOCK_FILE = 'run.lock';

export interface RunLockOwner {
  readonly pid: number;
  readonly host: string;
  readonly startedAt: string;
}

/** Locks this process holds, by lock path, with how many holders (the CLI and then train() in one process). */
const held = new Map<string, number>();
let exitHookInstalled = false;

function lockPath(outDir: string): string {
  return join(outDir, RUN_LOCK_FILE);
}

/** The owner named in a run directory's lock file, or undefined when there is none (or it is unreadable). */
export function readRunLock(outDir: string): RunLockOwner | undefined {
  return readLockFile(lockPath(outDir));
}

/** Whether a process with this pid runs on this host (EPERM: it runs, under another user). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isOurs(owner: RunLockOwner | undefined): boolean {
  return owner !== undefined && owner.pid === process.pid && owner.host === hostname();
}

/** A lock whose owner is certainly gone: same host and no such process. A lock from another host is never stale to us. */
function isStale(owner: RunLockOwner | undefined): boolean {
  return owner === undefined || (owner.host === hostname() && !processAlive(owner.pid));
}

function lockedError(outDir: string, owner: RunLockOwner): SslError {
  const where = owner.host === hostname() ? `pid ${owner.pid}` : `pid ${owner.pid} on host ${owner.host}`;
  const fix =
    owner.host === hostname()
      ? 'wait for it to finish, stop it, or use another output directory'
      : `if that run is no longer running, delete ${lockPath(outDir)}; otherwise use another output directory`;
  return new SslError('locked', `${outDir} is in use by another run (${where}, started ${owner.startedAt}): ${fix}.`, {
    details: { outDir, pid: owner.pid, host: owner.host },
  });
}

/** Throws a `locked` SslError when a live process other than this one owns the directory. */
export function checkRunLock(outDir: string): void {
  const owner = readRunLock(outDir);
  if (owner && !isOurs(owner) && !isStale(owner)) throw lockedError(outDir, owner);
}

function tryCreate(path: string, owner: RunLockOwner): boolean {
  try {
    // 'wx' fails when the file exists: of two processes creating it, exactly one succeeds.
    writeFileSync(path, `${JSON.stringify(owner)}\n`, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new SslError('io', `Cannot create ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Takes the run directory's lock for this process: creates run.lock with pid, host and start time, takes over
 * a stale one (its pid is dead on this host) and refuses a live owner with a `locked` SslError naming its pid.
 * Re-entrant within a process; the lock is removed by the last releaseRunLock, or when the process exits.
 */
export function acquireRunLock(outDir: string): void {
  const path = lockPath(outDir);
  const count = held.get(path);
  if (count !== undefined) {
    held.set(path, count + 1);
    return;
  }
  const me: RunLockOwner = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(path, me)) {
      held.set(path, 1);
      installExitHook();
      return;
    }
    const owner = readLockFile(path);
    if (isOurs(owner)) {
      held.set(path, 1);
      installExitHook();
      return;
    }
    if (owner && !isStale(owner)) throw lockedError(outDir, owner);
    // Stale: move it aside under a name only we use (rename is atomic, so of two processes taking it over
    // one moves it), then check we moved the stale lock and not one a faster process just created.
    const aside = `${path}.stale-${process.pid}`;
    try {
      renameSync(path, aside);
    } catch {
      continue; // someone else moved it first: try again
    }
    const moved = readLockFile(aside);
    if (moved && !isStale(moved) && !isOurs(moved)) {
      renameSync(aside, path); // a live lock: put it back
      throw lockedError(outDir, moved);
    }
    unlinkQuietly(aside);
  }
  throw new SslError('locked', `Cannot take the lock ${path}: other processes keep creating it.`);
}

function readLockFile(path: string): RunLockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<RunLockOwner>;
    if (typeof owner.pid !== 'number' || typeof owner.host !== 'string') return undefined;
    return { pid: owner.pid, host: owner.host, startedAt: String(owner.startedAt ?? '') };
  } catch {
    return undefined; // torn by a kill mid-write, or edited: treated as stale
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Releases one hold of this process on the directory's lock; the last one deletes run.lock (if still ours). */
export function releaseRunLock(outDir: string): void {
  const path = lockPath(outDir);
  const count = held.get(path);
  if (count === undefined) return;
  if (count > 1) {
    held.set(path, count - 1);
    return;
  }
  held.delete(path);
  if (isOurs(readLockFile(path))) unlinkQuietly(path);
}

/** A process that exits (process.exit on a second Ctrl-C, an uncaught error) leaves no lock behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const path of held.keys()) if (isOurs(readLockFile(path))) unlinkQuietly(path);
    held.clear();
  });
}
