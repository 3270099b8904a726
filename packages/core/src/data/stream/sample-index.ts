/**
 * The index of a streamed image set: where each sample's encoded bytes lie (a file of an image folder, or a
 * byte range of a WebDataset tar shard), its label and caption, and the shuffle groups (one per shard, or one
 * per file of a folder). Built once by listing directories or reading tar headers, then cached as JSON under
 * the cache directory, valid while the directories' and shards' sizes and modification times are unchanged.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { SslError } from '../../errors';
import { resolveCacheDir } from '../mnist';
import { listTarMembers, readRange } from './tar';

export const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png'] as const;
const INDEX_VERSION = 1;
/** Written by `ssl shards make` beside the shards: class names and counts (WebDataset itself has no such file). */
export const SHARDS_MANIFEST = 'dataset.json';

export interface SampleIndex {
  readonly kind: 'folder' | 'shards';
  /** Absolute path of the folder or of the shards' directory. */
  readonly root: string;
  /** Image files (folder) or shards (shards), relative to root. */
  readonly files: readonly string[];
  /** Per sample: a name for logs (folder: the relative path; shards: the WebDataset key). */
  readonly keys: readonly string[];
  /** Per sample: index into `files`. */
  readonly file: Int32Array;
  /** Per sample: byte offset and length of the image in its file (folder: 0 and -1, the whole file). */
  readonly offset: Float64Array;
  readonly length: Int32Array;
  /** Per sample class index; -1 for a sample without one. Absent when no sample has a label. */
  readonly labels?: Int32Array;
  readonly classNames?: readonly string[];
  /** Per sample caption ('' without one). Absent when no sample has a caption. */
  readonly captions?: readonly string[];
  /** Shuffle groups: samples groupStart[g] .. groupStart[g+1]-1 are read together (one shard, or one file). */
  readonly groupStart: Int32Array;
  /** Samples found without an image member (shards), counted, not indexed. */
  readonly skipped: number;
}

export interface IndexOptions {
  /** Folder only: one sub-folder per class (default: when the folder holds sub-folders and no images at its top). */
  readonly labeled?: boolean;
  /** Where the index cache lives (default: $SSL_CACHE_DIR, $XDG_CACHE_HOME/ssl or ~/.cache/ssl), under stream-index/. */
  readonly cacheDir?: string;
  /** false: build the index without reading or writing the cache. */
  readonly cache?: boolean;
}

/** What the cached index was built from; the cache is used only when this is unchanged. */
type Stamp = Array<[string, number, number]>;

interface CachedIndex {
  version: number;
  stamp: Stamp;
  options: { labeled: boolean | null };
  index: {
    kind: SampleIndex['kind'];
    root: string;
    files: string[];
    keys: string[];
    file: number[];
    offset: number[];
    length: number[];
    labels: number[] | null;
    classNames: string[] | null;
    captions: string[] | null;
    groupStart: number[];
    skipped: number;
  };
}

/** True when `path` is a directory holding `.tar` shards (and so is read as WebDataset shards). */
export function isShardDirectory(path: string): boolean {
  return listNames(path).some((name) => name.endsWith('.tar'));
}

/** Indexes a folder of images or a directory of WebDataset shards (cached; see the module comment). */
export function buildSampleIndex(path: string, options: IndexOptions = {}): SampleIndex {
  const root = resolve(path);
  const kind = isShardDirectory(root) ? 'shards' : 'folder';
  const stamp = kind === 'shards' ? shardStamp(root) : folderStamp(root);
  const cacheFile = join(resolveCacheDir(options.cacheDir), 'stream-index', `${createHash('sha1').update(root).digest('hex').slice(0, 16)}.json`);
  const labeledOption = options.labeled ?? null;
  if (options.cache !== false && existsSync(cacheFile)) {
    try {
      const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as CachedIndex;
      if (cached.version === INDEX_VERSION && cached.options.labeled === labeledOption && JSON.stringify(cached.stamp) === JSON.stringify(stamp)) {
        return fromJson(cached.index);
      }
    } catch {
      // An unreadable cache is rebuilt below.
    }
  }
  const index = kind === 'shards' ? indexShards(root) : indexFolder(root, options.labeled);
  if (options.cache !== false) {
    const cached: CachedIndex = { version: INDEX_VERSION, stamp, options: { labeled: labeledOption }, index: toJson(index) };
    try {
      mkdirSync(dirname(cacheFile), { recursive: true });
      const temporary = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(temporary, JSON.stringify(cached));
      renameSync(temporary, cacheFile);
    } catch {
      // A read-only cache directory only costs re-indexing next time.
    }
  }
  return index;
}

/** Where the cache of `path`'s index is kept (for tests and for users who want to remove it). */
export function sampleIndexCacheFile(path: string, cacheDir?: string): string {
  return join(resolveCacheDir(cacheDir), 'stream-index', `${createHash('sha1').update(resolve(path)).digest('hex').slice(0, 16)}.json`);
}

function listNames(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((name) => !name.startsWith('.'))
      .sort();
  } catch (cause) {
    throw new SslError('data', `${dir}: cannot list the folder (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}); check the path.`, {
      cause,
      details: { dir },
    });
  }
}

function isImageName(name: string): boolean {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(extname(name).slice(1).toLowerCase());
}

/** Every directory under root (root included) with its mtime: adding or removing a file changes its directory's. */
function folderStamp(root: string): Stamp {
  const stamp: Stamp = [];
  const visit = (dir: string) => {
    const info = statSync(dir);
    stamp.push([relative(root, dir), info.mtimeMs, 0]);
    for (const name of listNames(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) visit(path);
    }
  };
  visit(root);
  return stamp;
}

function shardStamp(root: string): Stamp {
  const stamp: Stamp = listNames(root)
    .filter((name) => name.endsWith('.tar') || name === SHARDS_MANIFEST)
    .map((name) => {
      const info = statSync(join(root, name));
      return [name, info.size, info.mtimeMs];
    });
  return stamp;
}

/** Image files under `dir`, recursively, in sorted order (paths relative to root). */
function imagesUnder(root: string, dir: string, out: string[]): void {
  for (const name of listNames(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) imagesUnder(root, path, out);
    else if (isImageName(name)) out.push(relative(root, path));
  }
}

function indexFolder(root: string, labeledOption: boolean | undefined): SampleIndex {
  const names = listNames(root);
  const subfolders = names.filter((name) => statSync(join(root, name)).isDirectory());
  const topImages = names.filter((name) => isImageName(name) && !subfolders.includes(name));
  const labeled = labeledOption ?? (subfolders.length > 0 && topImages.length === 0);
  const files: string[] = [];
  const labelList: number[] = [];
  if (labeled) {
    if (subfolders.length === 0) {
      throw new SslError('data', `${root}: labeled needs one sub-folder per class, found none; put each class's images in ${root}/<class>/ or pass labeled: false.`);
    }
    subfolders.forEach((className, label) => {
      const before = files.length;
      imagesUnder(root, join(root, className), files);
      for (let i = before; i < files.length; i++) labelList.push(label);
    });
  } else {
    imagesUnder(root, root, files);
  }
  if (files.length === 0) throw new SslError('data', `${root}: holds no .png/.jpg/.jpeg images; add images or check the path.`, { details: { dir: root } });
  const count = files.length;
  return {
    kind: 'folder',
    root,
    files,
    keys: files,
    file: Int32Array.from({ length: count }, (_, i) => i),
    offset: new Float64Array(count),
    length: new Int32Array(count).fill(-1),
    labels: labeled ? Int32Array.from(labelList) : undefined,
    classNames: labeled ? subfolders : undefined,
    groupStart: Int32Array.from({ length: count + 1 }, (_, i) => i),
    skipped: 0,
  };
}

/** WebDataset: a sample's key is its member path up to the first dot of the file name; the rest is the field. */
export function splitWebDatasetName(name: string): { key: string; field: string } {
  const base = basename(name);
  const dot = base.indexOf('.');
  if (dot < 0) return { key: name, field: '' };
  return { key: name.slice(0, name.length - base.length + dot), field: base.slice(dot + 1).toLowerCase() };
}

function indexShards(root: string): SampleIndex {
  const files = listNames(root).filter((name) => name.endsWith('.tar'));
  const manifestPath = join(root, SHARDS_MANIFEST);
  const manifest = existsSync(manifestPath) ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as { classNames?: string[] }) : {};
  const keys: string[] = [];
  const file: number[] = [];
  const offset: number[] = [];
  const length: number[] = [];
  const labels: number[] = [];
  const captions: string[] = [];
  const groupStart: number[] = [0];
  let anyLabel = false;
  let anyCaption = false;
  let skipped = 0;
  files.forEach((shard, shardIndex) => {
    const path = join(root, shard);
    const members = listTarMembers(path);
    const fd = openSync(path, 'r');
    try {
      // Members of one sample are adjacent in a WebDataset shard; a new key starts a new sample.
      let current: { key: string; image?: { offset: number; size: number }; label?: number; caption?: string } | undefined;
      const flush = () => {
        if (!current) return;
        if (!current.image) {
          skipped++;
        } else {
          keys.push(current.key);
          file.push(shardIndex);
          offset.push(current.image.offset);
          length.push(current.image.size);
          labels.push(current.label ?? -1);
          captions.push(current.caption ?? '');
        }
      };
      for (const member of members) {
        const { key, field } = splitWebDatasetName(member.name);
        if (current?.key !== key) {
          flush();
          current = { key };
        }
        if ((IMAGE_EXTENSIONS as readonly string[]).includes(field)) current.image ??= { offset: member.offset, size: member.size };
        else if (field === 'cls' || field === 'txt') {
          const text = Buffer.from(readRange(fd, member.offset, member.size)).toString('utf8').trim();
          if (field === 'cls') {
            const label = Number(text);
            if (!Number.isInteger(label) || label < 0) {
              throw new SslError('data', `${path}: ${member.name} holds "${text.slice(0, 40)}", not a class index (a non-negative integer).`, { details: { file: path } });
            }
            current.label = label;
            anyLabel = true;
          } else {
            current.caption = text;
            anyCaption = true;
          }
        }
      }
      flush();
    } finally {
      closeSync(fd);
    }
    groupStart.push(keys.length);
  });
  if (keys.length === 0) throw new SslError('data', `${root}: its .tar shards hold no .jpg/.jpeg/.png members.`, { details: { dir: root } });
  const labelArray = anyLabel ? Int32Array.from(labels) : undefined;
  let classNames = manifest.classNames;
  if (labelArray && !classNames) {
    const numClasses = labelArray.reduce((m, v) => Math.max(m, v), -1) + 1;
    classNames = Array.from({ length: numClasses }, (_, i) => String(i));
  }
  return {
    kind: 'shards',
    root,
    files,
    keys,
    file: Int32Array.from(file),
    offset: Float64Array.from(offset),
    length: Int32Array.from(length),
    labels: labelArray,
    classNames: labelArray ? classNames : undefined,
    captions: anyCaption ? captions : undefined,
    groupStart: Int32Array.from(groupStart),
    skipped,
  };
}

function toJson(index: SampleIndex): CachedIndex['index'] {
  return {
    kind: index.kind,
    root: index.root,
    files: [...index.files],
    keys: index.kind === 'folder' ? [] : [...index.keys],
    file: index.kind === 'folder' ? [] : Array.from(index.file),
    offset: index.kind === 'folder' ? [] : Array.from(index.offset),
    length: index.kind === 'folder' ? [] : Array.from(index.length),
    labels: index.labels ? Array.from(index.labels) : null,
    classNames: index.classNames ? [...index.classNames] : null,
    captions: index.captions ? [...index.captions] : null,
    groupStart: index.kind === 'folder' ? [] : Array.from(index.groupStart),
    skipped: index.skipped,
  };
}

function fromJson(json: CachedIndex['index']): SampleIndex {
  // A folder's per-sample columns are implied by its file list (one sample per file), so they are not stored.
  const count = json.files.length;
  const folder = json.kind === 'folder';
  return {
    kind: json.kind,
    root: json.root,
    files: json.files,
    keys: folder ? json.files : json.keys,
    file: folder ? Int32Array.from({ length: count }, (_, i) => i) : Int32Array.from(json.file),
    offset: folder ? new Float64Array(count) : Float64Array.from(json.offset),
    length: folder ? new Int32Array(count).fill(-1) : Int32Array.from(json.length),
    labels: json.labels ? Int32Array.from(json.labels) : undefined,
    classNames: json.classNames ?? undefined,
    captions: json.captions ?? undefined,
    groupStart: folder ? Int32Array.from({ length: count + 1 }, (_, i) => i) : Int32Array.from(json.groupStart),
    skipped: json.skipped,
  };
}
