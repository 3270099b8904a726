import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { SslError } from '../errors';
import { makeDataset, type ImageTextDataset } from './dataset';
import { loadImageFile, validateImageLoadOptions, type ImageLoadOptions } from './image-folder';

export interface ImageTextPair {
  /** Image path as written in the file (relative paths are resolved against the file's folder). */
  image: string;
  caption: string;
}

/**
 * Loads image-caption pairs for CLIP-style training from a `.jsonl` file (one
 * `{"image": "relative/path.png", "caption": "text"}` per line) or a `.csv` file with an
 * `image,caption` header (RFC 4180 quoting). Image paths are relative to the listing file.
 */
export async function loadImageTextPairs(path: string, options: ImageLoadOptions & { name?: string }): Promise<ImageTextDataset> {
  validateImageLoadOptions(options, `loadImageTextPairs(${path})`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new SslError('data', `${path}: cannot read the pairs file (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}); check the path.`, {
      cause,
      details: { file: path },
    });
  }
  const extension = extname(path).toLowerCase();
  let pairs: ImageTextPair[];
  if (extension === '.jsonl') pairs = parseJsonlPairs(text, path);
  else if (extension === '.csv') pairs = parseCsvPairs(text, path);
  else throw new SslError('data', `${path}: image-text pairs must be a .jsonl or .csv file, got "${extension || 'no extension'}".`, { details: { file: path } });
  if (pairs.length === 0) throw new SslError('data', `${path}: holds no image-caption pairs.`, { details: { file: path } });
  const [h, w] = options.size;
  const imageSize = h * w * options.channels;
  const images = new Uint8Array(pairs.length * imageSize);
  const base = dirname(resolve(path));
  for (let i = 0; i < pairs.length; i++) {
    const imagePath = isAbsolute(pairs[i].image) ? pairs[i].image : resolve(base, pairs[i].image);
    await loadImageFile(imagePath, options, images.subarray(i * imageSize, (i + 1) * imageSize));
  }
  const dataset = makeDataset({ images, shape: [h, w, options.channels], name: options.name ?? path, size: pairs.length });
  return { ...dataset, captions: pairs.map((p) => p.caption) };
}

/** Parses JSON Lines pairs; blank lines are skipped. */
export function parseJsonlPairs(text: string, fileName: string): ImageTextPair[] {
  const pairs: ImageTextPair[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (cause) {
      throw new SslError('data', `${fileName}:${i + 1}: not valid JSON (${(cause as Error).message}); each line must be {"image": "...", "caption": "..."}.`, {
        cause,
        details: { file: fileName, line: i + 1 },
      });
    }
    pairs.push(checkPair(value as Record<string, unknown>, fileName, i + 1));
  }
  return pairs;
}

/** Parses CSV pairs with a header naming the `image` and `caption` columns (other columns ignored). */
export function parseCsvPairs(text: string, fileName: string): ImageTextPair[] {
  const rows = parseCsv(text, fileName);
  if (rows.length === 0) return [];
  const header = rows[0].map((h) => h.trim().toLowerCase());
  const imageColumn = header.indexOf('image');
  const captionColumn = header.indexOf('caption');
  if (imageColumn < 0 || captionColumn < 0) {
    throw new SslError('data', `${fileName}:1: the CSV header must name an "image" and a "caption" column, got ${JSON.stringify(rows[0])}.`, {
      details: { file: fileName },
    });
  }
  const pairs: ImageTextPair[] = [];
  for (let r = 1; r < rows.length; r++) {
    const row = rows[r];
    if (row.length === 1 && row[0] === '') continue;
    pairs.push(checkPair({ image: row[imageColumn], caption: row[captionColumn] }, fileName, r + 1));
  }
  return pairs;
}

function checkPair(value: Record<string, unknown> | null, fileName: string, line: number): ImageTextPair {
  const image = value?.image;
  const caption = value?.caption;
  if (typeof image !== 'string' || image === '' || typeof caption !== 'string') {
    throw new SslError('data', `${fileName}:${line}: each entry needs a non-empty string "image" and a string "caption".`, { details: { file: fileName, line } });
  }
  return { image, caption };
}

/** RFC 4180 CSV: quoted fields may hold commas, newlines and doubled quotes. Returns rows of fields. */
function parseCsv(text: string, fileName: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      line++;
    } else field += ch;
  }
  if (quoted) throw new SslError('data', `${fileName}:${line}: unterminated quoted field.`, { details: { file: fileName, line } });
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
