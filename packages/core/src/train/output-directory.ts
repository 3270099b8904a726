import { constants, accessSync, mkdirSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, parse, resolve, sep } from 'node:path';
import { SslError } from '../errors';

/**
 * statfs magic numbers of Linux pseudo file systems, where a run directory makes no sense and where Node's
 * recursive mkdir can spin forever (/proc answers EEXIST/ENOENT inconsistently).
 */
const PSEUDO_FILE_SYSTEMS: Readonly<Record<number, string>> = {
  0x9fa0: 'proc',
  0x62656572: 'sysfs',
  0x1cd1: 'devpts',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0x64626720: 'debugfs',
  0x74726163: 'tracefs',
  0x73636673: 'securityfs',
  0x62656570: 'configfs',
  0x6165676c: 'pstore',
  0xcafe4a11: 'bpf',
};
const PSEUDO_ROOTS = ['/proc', '/sys', '/dev'];

/** How long creating the directory and writing a probe file may take before the path is declared unusable. */
export const OUTPUT_DIRECTORY_TIMEOUT_MS = 1500;

function ioError(outDir: string, problem: string): SslError {
  return new SslError('io', `Output directory ${outDir} ${problem}`, { details: { outDir } });
}

/** The deepest existing ancestor of `path` (itself if it exists) and the components below it to create. */
function existingAncestor(path: string): { existing: string; missing: string[] } {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    try {
      statSync(current);
      return { existing: current, missing };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') {
        // Some ancestor is a file: report the first file on the way down.
        missing.unshift(parse(current).base);
        current = dirname(current);
        continue;
      }
      if (code !== 'ENOENT') throw error;
      if (dirname(current) === current) return { existing: current, missing };
      missing.unshift(parse(current).base);
      current = dirname(current);
    }
  }
}

/**
 * Checks, without writing anything, that `outDir` can hold a run: not on a pseudo file system, no file in the
 * way, the deepest existing ancestor a writable directory. Returns the directories to create, outermost first.
 */
export function checkOutputDirectory(outDir: string): string[] {
  const path = resolve(outDir);
  if (PSEUDO_ROOTS.some((root) => path === root || path.startsWith(`${root}${sep}`))) {
    throw ioError(path, `is on the ${path.split(sep)[1]} pseudo file system; choose a directory on a disk.`);
  }
  const { existing, missing } = existingAncestor(path);
  const info = statSync(existing);
  if (!info.isDirectory()) {
    throw ioError(
      path,
      existing === path ? 'is a file; choose a directory.' : `cannot be created: ${existing} is a file, not a directory.`,
    );
  }
  try {
    const type = PSEUDO_FILE_SYSTEMS[Number(statfsSync(existing).type)];
    if (type) throw ioError(path, `is on the ${type} pseudo file system; choose a directory on a disk.`);
  } catch (error) {
    if (error instanceof SslError) throw error;
    // statfs is not available everywhere (older Node on some platforms): the path checks above remain.
  }
  try {
    accessSync(existing, constants.W_OK | constants.X_OK);
  } catch {
    throw ioError(
      path,
      missing.length === 0
        ? 'is not writable by this user; check its permissions.'
        : `cannot be created: ${existing} is not writable by this user.`,
    );
  }
  const created: string[] = [];
  let current = existing;
  for (const part of missing) {
    current = join(current, part);
    created.push(current);
  }
  return created;
}

function probePath(outDir: string): string {
  return join(outDir, `.ssl-write-test-${process.pid}`);
}

/**
 * Creates `outDir` (one component at a time: Node's recursive mkdir loops forever on some pseudo file
 * systems) and proves it writable with a probe file, all within `timeoutMs`. Fails with a one-line `io`
 * SslError; a failure removes the directories it created, so nothing is left behind.
 */
export async function prepareOutputDirectory(outDir: string, timeoutMs = OUTPUT_DIRECTORY_TIMEOUT_MS): Promise<void> {
  const path = resolve(outDir);
  const toCreate = checkOutputDirectory(path);
  const work = (async () => {
    for (const dir of toCreate) await mkdir(dir);
    await writeFile(probePath(path), '');
    await rm(probePath(path));
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(ioError(path, `did not answer within ${timeoutMs} ms (a hung network or pseudo file system?); choose another directory.`)),
      timeoutMs,
    );
    timer.unref();
  });
  try {
    await Promise.race([work, timeout]);
  } catch (error) {
    work.catch(() => undefined);
    for (const dir of [...toCreate].reverse()) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    if (error instanceof SslError) throw error;
    throw ioError(path, `cannot be written: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
  } finally {
    clearTimeout(timer);
  }
}

/** prepareOutputDirectory without the timeout, for train()'s synchronous start. */
export function prepareOutputDirectorySync(outDir: string): void {
  const path = resolve(outDir);
  const toCreate = checkOutputDirectory(path);
  try {
    for (const dir of toCreate) mkdirSync(dir);
    writeFileSync(probePath(path), '');
    rmSync(probePath(path));
  } catch (error) {
    for (const dir of [...toCreate].reverse()) rmSync(dir, { recursive: true, force: true });
    throw ioError(path, `cannot be written: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
  }
}
