import { SslError } from '../errors';
import type { ImageDataset } from './dataset';
import { corruptGzip, decodeIdx, idxDataset, isGzip, requireImageIdx } from './idx-format';
import type { IdxArray, LoadIdxOptions } from './idx-format';

/**
 * `loadIdx` for a web page: fetches an image IDX file and an optional label IDX file (gzipped or not) and
 * returns an ImageDataset. Inflates with the browser's DecompressionStream, so nothing of Node's zlib is needed.
 */
export async function fetchIdx(imagesUrl: string, labelsUrl?: string, options: LoadIdxOptions = {}): Promise<ImageDataset> {
  const images = await fetchIdxArray(imagesUrl);
  requireImageIdx(images, imagesUrl);
  const labels = labelsUrl === undefined ? undefined : await fetchIdxArray(labelsUrl);
  return idxDataset(images, imagesUrl, labels, labelsUrl ?? '', options);
}

/** Fetches and parses one IDX file (gzipped or not). */
export async function fetchIdxArray(url: string): Promise<IdxArray> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (cause) {
    throw new SslError('data', `${url}: the request failed (${(cause as Error).message}); check the URL.`, { cause, details: { file: url } });
  }
  if (!response.ok) throw new SslError('data', `${url}: the server answered ${response.status}; check the URL.`, { details: { file: url } });
  let raw = new Uint8Array(await response.arrayBuffer());
  if (isGzip(raw)) {
    try {
      const inflated = new Blob([raw]).stream().pipeThrough(new DecompressionStream('gzip'));
      raw = new Uint8Array(await new Response(inflated).arrayBuffer());
    } catch (cause) {
      throw corruptGzip(url, cause);
    }
  }
  return decodeIdx(raw, url);
}
