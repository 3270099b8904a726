import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SslError } from '../errors';
import { parseColorBitmapFont } from './color-font';
import { makeDataset, type ImageDataset } from './dataset';
import { loadIdx } from './idx';
import { decodeImage, type DecodedImage } from './image-folder';

/**
 * A real colour image set that installs offline: the colour glyphs of Noto Color Emoji (Debian's
 * `fonts-noto-color-emoji`, SIL Open Font License 1.1), composited on white and resized to 32×32 RGB with
 * area averaging, labelled by their Unicode emoji group (Unicode's emoji-test.txt, Debian's `unicode-data`).
 * Every fully-qualified emoji of emoji-test.txt except the Component group is one image: 3655 with
 * Noto Color Emoji 2.042 and Unicode 15.0, of which 2148 are People & Body (skin-tone variants included).
 */

/** The nine emoji groups of emoji-test.txt that hold emoji (its tenth, Component, holds skin-tone and hair swatches). */
export const EMOJI_GROUPS = [
  'Smileys & Emotion',
  'People & Body',
  'Animals & Nature',
  'Food & Drink',
  'Travel & Places',
  'Activities',
  'Objects',
  'Symbols',
  'Flags',
] as const;

/** Where Debian's fonts-noto-color-emoji and unicode-data put the two files the full set is built from. */
export const EMOJI_SYSTEM_FILES = {
  font: '/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf',
  emojiTest: '/usr/share/unicode/emoji/emoji-test.txt',
} as const;

/** Side of the images the sample is stored at and `loadEmoji` returns by default. */
export const EMOJI_IMAGE_SIZE = 32;

/** Share of the emoji (by base emoji, see emojiSplitOf) in the test split. */
const TEST_SHARE_MODULUS = 5; // 1 in 5: a 20 % test split

const SKIN_TONE_MODIFIERS = new Set([0x1f3fb, 0x1f3fc, 0x1f3fd, 0x1f3fe, 0x1f3ff]);
const VARIATION_SELECTOR_16 = 0xfe0f;
const WHITE: readonly [number, number, number] = [255, 255, 255];

/** One fully-qualified emoji of emoji-test.txt. */
export interface EmojiEntry {
  readonly codePoints: readonly number[];
  /** Index into EMOJI_GROUPS. */
  readonly group: number;
  readonly subgroup: string;
  readonly name: string;
}

/** The fully-qualified emoji of Unicode's emoji-test.txt, in file order, without the Component group. */
export function parseEmojiTest(text: string): EmojiEntry[] {
  const entries: EmojiEntry[] = [];
  let group = -1;
  let subgroup = '';
  for (const line of text.split('\n')) {
    const heading = /^# (group|subgroup): (.+?)\s*$/.exec(line);
    if (heading) {
      if (heading[1] === 'group') group = (EMOJI_GROUPS as readonly string[]).indexOf(heading[2]);
      else subgroup = heading[2];
      continue;
    }
    const entry = /^([0-9A-Fa-f ]+?)\s*;\s*fully-qualified\s*#\s*\S+\s+E\d+\.\d+\s+(.*?)\s*$/.exec(line);
    if (!entry || group < 0) continue;
    entries.push({ codePoints: entry[1].split(' ').map((hex) => parseInt(hex, 16)), group, subgroup, name: entry[2] });
  }
  return entries;
}

/**
 * The split of an emoji: 'test' for about one in five, decided by a hash of its code points without skin-tone
 * modifiers and variation selectors, so the five skin tones of a gesture, which differ in colour only, always
 * fall in the same split and a test image never has a near-copy in training.
 */
export function emojiSplitOf(codePoints: readonly number[]): 'train' | 'test' {
  let hash = 0x811c9dc5; // FNV-1a, 32 bits
  for (const codePoint of codePoints) {
    if (SKIN_TONE_MODIFIERS.has(codePoint) || codePoint === VARIATION_SELECTOR_16) continue;
    for (let shift = 0; shift < 24; shift += 8) {
      hash ^= (codePoint >>> shift) & 0xff;
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
  }
  return hash % TEST_SHARE_MODULUS === 0 ? 'test' : 'train';
}

/**
 * One RGB image of side `size` from a decoded glyph: alpha-composited on `background`, centred on a square
 * canvas of that background (glyphs are 136×128), then area-averaged down, which antialiases (every source
 * pixel contributes by the share of it an output pixel covers). Returns size·size·3 bytes.
 */
export function renderGlyph(glyph: DecodedImage, size: number, background: readonly [number, number, number] = WHITE): Uint8Array {
  const side = Math.max(glyph.width, glyph.height);
  const top = Math.floor((side - glyph.height) / 2);
  const left = Math.floor((side - glyph.width) / 2);
  const canvas = new Float32Array(side * side * 3);
  for (let p = 0; p < side * side; p++) canvas.set(background, 3 * p);
  for (let y = 0; y < glyph.height; y++) {
    for (let x = 0; x < glyph.width; x++) {
      const source = 4 * (y * glyph.width + x);
      const alpha = glyph.rgba[source + 3] / 255;
      const target = 3 * ((top + y) * side + left + x);
      for (let c = 0; c < 3; c++) canvas[target + c] = alpha * glyph.rgba[source + c] + (1 - alpha) * background[c];
    }
  }
  return toBytes(areaResize(canvas, side, side, 3, size, size));
}

/**
 * Resizes an H×W×C float image to outH×outW by area averaging: output pixel (y, x) is the mean of the source
 * area [y·H/outH, (y+1)·H/outH) × [x·W/outW, (x+1)·W/outW), partial pixels weighted by their covered share.
 * Separable: rows first, then columns.
 */
export function areaResize(image: Float32Array, height: number, width: number, channels: number, outH: number, outW: number): Float32Array {
  const rowWeights = areaWeights(height, outH);
  const columnWeights = areaWeights(width, outW);
  const rows = new Float32Array(outH * width * channels);
  for (let y = 0; y < outH; y++) {
    for (const [source, weight] of rowWeights[y]) {
      for (let i = 0; i < width * channels; i++) rows[y * width * channels + i] += weight * image[source * width * channels + i];
    }
  }
  const out = new Float32Array(outH * outW * channels);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      for (const [source, weight] of columnWeights[x]) {
        for (let c = 0; c < channels; c++) out[(y * outW + x) * channels + c] += weight * rows[(y * width + source) * channels + c];
      }
    }
  }
  return out;
}

/** For each output index, the source indices it covers and their weights (summing to 1). */
function areaWeights(sourceLength: number, outLength: number): [number, number][][] {
  const scale = sourceLength / outLength;
  return Array.from({ length: outLength }, (_, o) => {
    const start = o * scale;
    const end = (o + 1) * scale;
    const weights: [number, number][] = [];
    for (let s = Math.floor(start); s < Math.min(sourceLength, Math.ceil(end)); s++) {
      const covered = Math.min(end, s + 1) - Math.max(start, s);
      if (covered > 1e-9) weights.push([s, covered / scale]);
    }
    return weights;
  });
}

function toBytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) bytes[i] = Math.round(Math.min(255, Math.max(0, values[i])));
  return bytes;
}

/**
 * The emoji images of one split, rendered from a Noto Color Emoji font file and Unicode's emoji-test.txt, on
 * `background` (default white, as loadEmoji).
 */
export function renderEmojiSet(
  fontBytes: Uint8Array,
  emojiTestText: string,
  options: { split?: 'train' | 'test' | 'all'; size?: number; fontName?: string; background?: readonly [number, number, number] } = {},
): { images: Uint8Array; entries: EmojiEntry[]; missing: EmojiEntry[] } {
  const size = options.size ?? EMOJI_IMAGE_SIZE;
  const fontName = options.fontName ?? 'font';
  const font = parseColorBitmapFont(fontBytes, fontName);
  const glyphOfSequence = (codePoints: readonly number[]): number | undefined => {
    const glyphs = codePoints.map((codePoint) => font.glyphOf(codePoint));
    return glyphs.every((glyph) => glyph !== undefined) ? font.ligatureOf(glyphs as number[]) : undefined;
  };
  const entries: EmojiEntry[] = [];
  const missing: EmojiEntry[] = [];
  const pixels: Uint8Array[] = [];
  for (const entry of parseEmojiTest(emojiTestText)) {
    if (options.split && options.split !== 'all' && emojiSplitOf(entry.codePoints) !== options.split) continue;
    // Fonts map most sequences without their variation selectors (U+FE0F asks for emoji presentation).
    const glyph = glyphOfSequence(entry.codePoints) ?? glyphOfSequence(entry.codePoints.filter((c) => c !== VARIATION_SELECTOR_16));
    const png = glyph === undefined ? undefined : font.pngOf(glyph);
    if (!png) {
      missing.push(entry);
      continue;
    }
    pixels.push(renderGlyph(decodeImage(png, `${fontName} glyph ${glyph}`), size, options.background));
    entries.push(entry);
  }
  const images = new Uint8Array(pixels.length * size * size * 3);
  pixels.forEach((image, i) => images.set(image, i * image.length));
  return { images, entries, missing };
}

export interface LoadEmojiOptions {
  split?: 'train' | 'test';
  /**
   * 'sample' (default): the subset shipped with @ssl/core (data/emoji-sample). 'full' (or 'auto'): every emoji,
   * rendered from the system's NotoColorEmoji.ttf and emoji-test.txt (Debian: `apt-get install
   * fonts-noto-color-emoji unicode-data`). Any other string: a folder holding the four IDX files in the
   * sample's layout (as `make-emoji-sample.ts --full <dir>` writes).
   */
  source?: 'sample' | 'full' | 'auto' | (string & {});
  /** Side of the square images; default 32 (the stored size). Other sizes are area-resized. */
  size?: number;
  /** 3 (default): RGB. 1: grayscale as ITU-R 601 luma, as loadImageFolder and PIL's "L". */
  channels?: 1 | 3;
}

/** File names of the emoji IDX files, by split: [images, labels]. */
export const EMOJI_FILES = {
  train: ['train-images-idx4-ubyte.gz', 'train-labels-idx1-ubyte.gz'],
  test: ['test-images-idx4-ubyte.gz', 'test-labels-idx1-ubyte.gz'],
} as const;

/**
 * Loads the Noto Color Emoji image set (RGB, 9 classes: the Unicode emoji groups, EMOJI_GROUPS). The split is
 * fixed by emojiSplitOf (about 80/20, skin-tone variants of an emoji on the same side).
 */
export async function loadEmoji(options: LoadEmojiOptions = {}): Promise<ImageDataset> {
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'test') throw new SslError('invalid-config', `loadEmoji: split must be 'train' or 'test', got ${JSON.stringify(split)}.`);
  const size = options.size ?? EMOJI_IMAGE_SIZE;
  if (!(Number.isInteger(size) && size >= 4)) throw new SslError('invalid-config', `loadEmoji: size must be an integer ≥ 4 pixels, got ${JSON.stringify(size)}.`);
  const channels = options.channels ?? 3;
  if (channels !== 1 && channels !== 3) throw new SslError('invalid-config', `loadEmoji: channels must be 1 or 3, got ${JSON.stringify(channels)}.`);
  const source = options.source ?? 'sample';
  let dataset: ImageDataset;
  if (source === 'full' || source === 'auto') dataset = await renderSystemEmoji(split, size);
  else {
    const dir = source === 'sample' ? findEmojiSample() : resolve(source);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new SslError('data', `loadEmoji: source folder ${dir} does not exist; pass a folder holding ${EMOJI_FILES[split].join(' and ')}.`, { details: { dir } });
    }
    const [imagesFile, labelsFile] = EMOJI_FILES[split];
    const name = source === 'sample' ? `emoji/${split} (sample)` : `emoji/${split}`;
    dataset = await loadIdx(join(dir, imagesFile), join(dir, labelsFile), { name, classNames: [...EMOJI_GROUPS] });
    if (dataset.shape[2] !== 3) throw new SslError('data', `loadEmoji: ${join(dir, imagesFile)} holds ${dataset.shape[2]}-channel images; the emoji files are RGB.`);
  }
  return reshapeDataset(dataset, size, channels);
}

async function renderSystemEmoji(split: 'train' | 'test', size: number): Promise<ImageDataset> {
  const { font, emojiTest } = EMOJI_SYSTEM_FILES;
  for (const [path, pkg] of [
    [font, 'fonts-noto-color-emoji'],
    [emojiTest, 'unicode-data'],
  ] as const) {
    if (!existsSync(path)) {
      throw new SslError('data', `loadEmoji: ${path} is missing; the full emoji set is rendered from it. Install it (Debian: apt-get install ${pkg}) or use source: 'sample'.`, {
        details: { file: path },
      });
    }
  }
  const rendered = renderEmojiSet(new Uint8Array(await readFile(font)), await readFile(emojiTest, 'utf8'), { split, size, fontName: font });
  return makeDataset({
    images: rendered.images,
    shape: [size, size, 3],
    labels: Int32Array.from(rendered.entries, (entry) => entry.group),
    classNames: [...EMOJI_GROUPS],
    numClasses: EMOJI_GROUPS.length,
    name: `emoji/${split}`,
    size: rendered.entries.length,
  });
}

/** The dataset at `size` and `channels` (area resize of the stored RGB, then luma): itself when nothing changes. */
function reshapeDataset(dataset: ImageDataset, size: number, channels: 1 | 3): ImageDataset {
  const [height, width] = dataset.shape;
  if (height === size && width === size && channels === 3) return dataset;
  const images = new Uint8Array(dataset.size * size * size * channels);
  const plane = height * width * 3;
  for (let i = 0; i < dataset.size; i++) {
    const rgb = Float32Array.from(dataset.images.subarray(i * plane, (i + 1) * plane));
    const resized = height === size && width === size ? rgb : areaResize(rgb, height, width, 3, size, size);
    for (let p = 0; p < size * size; p++) {
      const out = (i * size * size + p) * channels;
      if (channels === 3) for (let c = 0; c < 3; c++) images[out + c] = Math.round(Math.min(255, Math.max(0, resized[3 * p + c])));
      else images[out] = Math.round(Math.min(255, Math.max(0, 0.299 * resized[3 * p] + 0.587 * resized[3 * p + 1] + 0.114 * resized[3 * p + 2])));
    }
  }
  return makeDataset({ ...dataset, images, shape: [size, size, channels], name: dataset.name });
}

/** data/emoji-sample: `packages/core/data` in the repository, `data/` in the published package (sources run from src/data/, the build from dist/). */
function findEmojiSample(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'data', 'emoji-sample');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new SslError('data', `The bundled emoji sample was not found above ${fileURLToPath(import.meta.url)}; reinstall @ssl/core or use source: 'full'.`);
}
