import type { Variable } from '@tensorflow/tfjs-core';
import { SslError } from '../errors';
import type { JsonValue } from './checkpoint';
import { MemoryRunStore } from './run-store';
import type { MemoryCheckpoint, MemoryRunStoreOptions, SavedValues } from './run-store';

// The compiler options carry no DOM lib, where the IndexedDB types live; these are the parts used here.
interface IdbRequest<T> {
  result: T;
  error: { message: string } | null;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: (() => void) | null;
}
interface IdbTransaction {
  objectStore(name: string): IdbObjectStore;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
  error: { message: string } | null;
}
interface IdbObjectStore {
  get(key: string): IdbRequest<unknown>;
  put(value: unknown, key: string): IdbRequest<unknown>;
}
interface IdbDatabase {
  createObjectStore(name: string): IdbObjectStore;
  transaction(store: string, mode: 'readonly' | 'readwrite'): IdbTransaction;
  close(): void;
  readonly objectStoreNames: { contains(name: string): boolean };
}
interface IdbFactory {
  open(name: string, version?: number): IdbOpenRequest;
  deleteDatabase(name: string): IdbRequest<unknown>;
}

const STORE = 'run';
/** The one record: everything a resume needs, written in one transaction so a reload never sees half of it. */
const RECORD = 'state';

interface PersistedRun {
  readonly config: unknown;
  readonly metrics: Record<string, unknown>[];
  readonly checkpoint?: { step: number; meta: { [key: string]: JsonValue }; values: [string, SavedValues][] };
}

function indexedDb(): IdbFactory {
  const factory = (globalThis as { indexedDB?: IdbFactory }).indexedDB;
  if (!factory)
    throw new SslError('invalid-config', 'IndexedDbRunStore needs IndexedDB (a browser page or worker); use MemoryRunStore here.');
  return factory;
}

function done<T>(request: IdbRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new SslError('checkpoint', `IndexedDB: ${request.error?.message ?? 'request failed'}`));
  });
}

/**
 * A run kept in the browser's IndexedDB database `name`: a page that is reloaded (or closed and opened again)
 * resumes from the newest checkpoint with `train({ ..., store: await IndexedDbRunStore.open(name), resume: true })`.
 *
 * The trainer writes synchronously; IndexedDB is asynchronous. So the store works in memory (MemoryRunStore) and
 * writes each checkpoint, with the config and the metrics up to it, as one record in one transaction, in the
 * background: a reload keeps the last checkpoint whose transaction completed, never a torn one. `flush()` waits
 * for the writes in flight (the end of a run awaits it).
 */
export class IndexedDbRunStore extends MemoryRunStore {
  override readonly location: string;
  private pending: Promise<void> = Promise.resolve();
  private failure: unknown;

  private constructor(
    private readonly database: IdbDatabase,
    readonly name: string,
    options: MemoryRunStoreOptions,
  ) {
    super(options);
    this.location = `indexeddb:${name}`;
  }

  /** Opens (or creates) the database `name` and loads the run saved there, if any. */
  static async open(name: string, options: MemoryRunStoreOptions = {}): Promise<IndexedDbRunStore> {
    const request = indexedDb().open(name, 1);
    request.onupgradeneeded = () => {
      if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE);
    };
    const database = await done(request);
    const store = new IndexedDbRunStore(database, name, options);
    const saved = (await done(database.transaction(STORE, 'readonly').objectStore(STORE).get(RECORD))) as PersistedRun | undefined;
    if (saved) {
      store.config = saved.config;
      store.metrics.push(...saved.metrics);
      if (saved.checkpoint) store.checkpoints.push({ ...saved.checkpoint, values: new Map(saved.checkpoint.values) });
    }
    return store;
  }

  /** Deletes the database `name` (a run to start over). */
  static async remove(name: string): Promise<void> {
    await done(indexedDb().deleteDatabase(name));
  }

  override writeCheckpoint(stepsDone: number, variables: ReadonlyMap<string, Variable>, meta: { [key: string]: JsonValue }): void {
    if (this.hasCheckpointAt(stepsDone)) return;
    super.writeCheckpoint(stepsDone, variables, meta);
    const newest = this.checkpoints.at(-1);
    if (newest) this.persist(newest);
  }

  /** Resolves when every checkpoint written so far is in the database; rejects with the first write's failure. */
  async flush(): Promise<void> {
    await this.pending;
    if (this.failure !== undefined) throw this.failure;
  }

  override async saveOutputs(): Promise<void> {
    await this.flush();
  }

  /** Closes the database once the writes in flight are done. */
  override release(): void {
    void this.pending.then(() => this.database.close());
  }

  private persist(checkpoint: MemoryCheckpoint): void {
    const record: PersistedRun = {
      config: this.config,
      metrics: this.metrics.filter((r) => typeof r.step !== 'number' || r.step < checkpoint.step),
      checkpoint: { step: checkpoint.step, meta: checkpoint.meta, values: [...checkpoint.values] },
    };
    this.pending = this.pending.then(
      () =>
        new Promise<void>((resolve) => {
          const transaction = this.database.transaction(STORE, 'readwrite');
          transaction.objectStore(STORE).put(record, RECORD);
          transaction.oncomplete = () => resolve();
          transaction.onerror = transaction.onabort = () => {
            this.failure ??= new SslError(
              'checkpoint',
              `IndexedDB ${this.name}: writing checkpoint ${checkpoint.step} failed (${transaction.error?.message ?? 'aborted'}).`,
            );
            resolve();
          };
        }),
    );
  }
}
