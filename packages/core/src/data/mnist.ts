import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SslError } from '../errors';
import type { ImageDataset } from './dataset';
import { loadIdx } from './idx';

/** Where an MNIST-format dataset lives online and how to check what was downloaded. */
export interface IdxDatasetSpec {
  /** Folder name under SSL_DATA_DIR and the cache directory, e.g. "fashion-mnist". */
  readonly id: string;
  readonly classNames: string[];
  /** Base URLs tried in order; each must serve the four files by name. */
  readonly mirrors: string[];
  /** MD5 of each gzipped file as published by the dataset's authors. */
  readonly files: Record<'trainImages' | 'trainLabels' | 'testImages' | 'testLabels', { name: string; md5: string }>;
  readonly trainSize: number;
  readonly testSize: number;
  /** Extra folders holding the files (e.g. a distribution package), tried after SSL_DATA_DIR. */
  readonly systemDirs: string[];
  /** How a user can get the files without a download, shown when everything else failed. */
  readonly offlineHint: string;
}

/** Fashion-MNIST (Xiao, Rasul & Vollgraf 2017); checksums from the dataset's README. */
export const FASHION_MNIST: IdxDatasetSpec = {
  id: 'fashion-mnist',
  classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
  mirrors: ['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'],
  files: {
    trainImages: { name: 'train-images-idx3-ubyte.gz', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d' },
    trainLabels: { name: 'train-labels-idx1-ubyte.gz', md5: '25c81989df183df01b3e8a0aad5dffbe' },
    testImages: { name: 't10k-images-idx3-ubyte.gz', md5: 'bef4ecab320f06d8554ea6380940ec79' },
    testLabels: { name: 't10k-labels-idx1-ubyte.gz', md5: 'bb300cfdad3c16e7a12a480ee83cd310' },
  },
  trainSize: 60000,
  testSize: 10000,
  systemDirs: ['/usr/share/datasets/fashion-mnist'],
  offlineHint: "on Debian/Ubuntu `apt-get install dataset-fashion-mnist` installs them in /usr/share/datasets/fashion-mnist; or use source: 'sample' for the 3000/1000-image subset shipped with @ssl/core",
};

/** MNIST (LeCun et al. 1998); the PyTorch mirror first because yann.lecun.com often refuses downloads. */
export const MNIST: IdxDatasetSpec = {
  id: 'mnist',
  classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  mirrors: ['https://ossci-datasets.s3.amazonaws.com/mnist/', 'http://yann.lecun.com/exdb/mnist/'],
  files: {
    trainImages: { name: 'train-images-idx3-ubyte.gz', md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873' },
    trainLabels: { name: 'train-labels-idx1-ubyte.gz', md5: 'd53e105ee54ea40749a09fcbcd1e9432' },
    testImages: { name: 't10k-images-idx3-ubyte.gz', md5: '9fb629c4189551a2d022fa330f9573f3' },
    testLabels: { name: 't10k-labels-idx1-ubyte.gz', md5: 'ec29112dd5afa0611ce80d1b7f02629c' },
  },
  trainSize: 60000,
  testSize: 10000,
  systemDirs: [],
  offlineHint: 'put the four files in a folder and pass it as source, or set SSL_DATA_DIR to a folder containing mnist/',
};

export interface LoadMnistOptions {
  split?: 'train' | 'test';
  /**
   * 'auto' (default): SSL_DATA_DIR → system copy → cache → download. 'full': the same, but the files
   * must be the complete 60 000/10 000-image dataset. 'sample': the subset shipped with @ssl/core
   * (Fashion-MNIST only). Any other string: a folder holding the four IDX files (gzipped or not).
   */
  source?: 'auto' | 'sample' | 'full' | (string & {});
  /** Where downloads go; default $SSL_CACHE_DIR, else $XDG_CACHE_HOME/ssl, else ~/.cache/ssl. */
  cacheDir?: string;
}

/** Loads Fashion-MNIST (28×28×1, 10 classes). See LoadMnistOptions for where the files come from. */
export function loadFashionMnist(options: LoadMnistOptions = {}): Promise<ImageDataset> {
  return loadIdxDataset(FASHION_MNIST, options);
}

/** Loads MNIST digits (28×28×1, 10 classes). No copy ships with @ssl/core: folder → SSL_DATA_DIR → cache → download. */
export async function loadMnist(options: LoadMnistOptions = {}): Promise<ImageDataset> {
  if (options.source === 'sample') {
    throw new SslError('data', "loadMnist: there is no bundled MNIST sample; use source: 'auto' or a folder, or loadFashionMnist({ source: 'sample' }).");
  }
  return loadIdxDataset(MNIST, options);
}

/** Loads one split of an MNIST-format dataset described by `spec`. */
export async function loadIdxDataset(spec: IdxDatasetSpec, options: LoadMnistOptions = {}): Promise<ImageDataset> {
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'test') {
    throw new SslError('invalid-config', `load ${spec.id}: split must be 'train' or 'test', got ${JSON.stringify(split)}.`);
  }
  const source = options.source ?? 'auto';
  const imagesFile = split === 'train' ? spec.files.trainImages.name : spec.files.testImages.name;
  const labelsFile = split === 'train' ? spec.files.trainLabels.name : spec.files.testLabels.name;
  const name = `${spec.id}/${split}`;
  let dir: string;
  if (source === 'sample') {
    dir = join(findSampleRoot(), `${spec.id}-sample`);
    if (!existsSync(dir)) throw new SslError('data', `load ${spec.id}: no bundled sample at ${dir}.`);
    const dataset = await loadPair(dir, imagesFile, labelsFile, spec, `${name} (sample)`);
    return dataset;
  }
  if (source !== 'auto' && source !== 'full') {
    dir = resolve(source);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new SslError('data', `load ${spec.id}: source folder ${dir} does not exist; pass a folder holding ${imagesFile} and ${labelsFile}.`, { details: { dir } });
    }
  } else {
    dir = findLocalCopy(spec, imagesFile, labelsFile) ?? (await downloadIdxDataset(spec, resolveCacheDir(options.cacheDir)));
  }
  const dataset = await loadPair(dir, imagesFile, labelsFile, spec, name);
  const expectedSize = split === 'train' ? spec.trainSize : spec.testSize;
  if (source === 'full' && dataset.size !== expectedSize) {
    throw new SslError('data', `load ${spec.id}: ${dir} holds ${dataset.size} ${split} images, the full dataset has ${expectedSize}; point SSL_DATA_DIR at the complete files.`);
  }
  return dataset;
}

/** Downloads the four files of `spec` into `<cacheDir>/<id>` (skipping files already verified) and returns that folder. */
export async function downloadIdxDataset(spec: IdxDatasetSpec, cacheDir: string): Promise<string> {
  const dir = join(cacheDir, spec.id);
  await mkdir(dir, { recursive: true });
  for (const file of Object.values(spec.files)) {
    const target = join(dir, file.name);
    if (existsSync(target)) continue; // only verified files are ever renamed into place
    const failures: string[] = [];
    let done = false;
    for (const mirror of spec.mirrors) {
      const url = new URL(file.name, mirror).toString();
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(120_000) });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const bytes = new Uint8Array(await response.arrayBuffer());
        const md5 = createHash('md5').update(bytes).digest('hex');
        if (md5 !== file.md5) {
          throw new SslError('data', `${url}: MD5 ${md5} does not match the published ${file.md5}; the mirror served a different or damaged file.`, {
            details: { url, md5, expected: file.md5 },
          });
        }
        const partial = `${target}.${process.pid}.partial`;
        await writeFile(partial, bytes);
        await rename(partial, target);
        done = true;
        break;
      } catch (cause) {
        if (cause instanceof SslError) failures.push(cause.message);
        else failures.push(`${url}: ${(cause as Error).message}${(cause as { cause?: Error }).cause ? ` (${(cause as { cause: Error }).cause.message})` : ''}`);
      }
    }
    if (!done) {
      await rm(`${target}.${process.pid}.partial`, { force: true });
      throw new SslError(
        'data',
        `Could not download ${spec.id} file ${file.name}: ${failures.join('; ')}. ` +
          `To use ${spec.id} offline, ${spec.offlineHint}; or copy the four files (${Object.values(spec.files)
            .map((f) => f.name)
            .join(', ')}) into ${dir} or into $SSL_DATA_DIR/${spec.id}.`,
        { details: { file: file.name, dir, failures } },
      );
    }
  }
  return dir;
}

export function resolveCacheDir(cacheDir?: string): string {
  if (cacheDir) return resolve(cacheDir);
  if (process.env.SSL_CACHE_DIR) return resolve(process.env.SSL_CACHE_DIR);
  if (process.env.XDG_CACHE_HOME) return join(process.env.XDG_CACHE_HOME, 'ssl');
  return join(homedir(), '.cache', 'ssl');
}

function findLocalCopy(spec: IdxDatasetSpec, imagesFile: string, labelsFile: string): string | undefined {
  const candidates: string[] = [];
  const dataDir = process.env.SSL_DATA_DIR;
  if (dataDir) candidates.push(join(dataDir, spec.id), dataDir);
  candidates.push(...spec.systemDirs);
  for (const dir of candidates) {
    if (findFile(dir, imagesFile) && findFile(dir, labelsFile)) return dir;
  }
  return undefined;
}

/** The file itself, or its uncompressed twin (`x.gz` → `x`), or undefined. */
function findFile(dir: string, gzName: string): string | undefined {
  for (const candidate of [gzName, gzName.replace(/\.gz$/, '')]) {
    const path = join(dir, candidate);
    if (existsSync(path)) return path;
  }
  return undefined;
}

async function loadPair(dir: string, imagesFile: string, labelsFile: string, spec: IdxDatasetSpec, name: string): Promise<ImageDataset> {
  const imagesPath = findFile(dir, imagesFile);
  const labelsPath = findFile(dir, labelsFile);
  if (!imagesPath || !labelsPath) {
    throw new SslError('data', `load ${spec.id}: ${dir} lacks ${!imagesPath ? imagesFile : labelsFile} (gzipped or not); it needs ${imagesFile} and ${labelsFile}.`, {
      details: { dir },
    });
  }
  return loadIdx(imagesPath, labelsPath, { name, classNames: spec.classNames });
}

/**
 * The folder holding the bundled samples: `packages/core/data` in the repository and `data/` in the
 * published package. Found by walking up from this module, because sources run from `src/data/` and the
 * build from `dist/`.
 */
function findSampleRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'data');
    if (existsSync(join(candidate, 'fashion-mnist-sample'))) return candidate;
    dir = dirname(dir);
  }
  throw new SslError('data', `The bundled Fashion-MNIST sample was not found above ${fileURLToPath(import.meta.url)}; reinstall @ssl/core or use source: 'auto'.`);
}
