/**
 * Generates the image folder of the decode benchmark (issue #30, acceptance 1): `count` images of varied sizes
 * (each side uniform in 64–512 px), photo-like content (smooth colour fields, edges and sensor-like noise, so
 * JPEG decoding costs what photos cost), in 10 class folders of 1 000-image sub-folders:
 *
 *   <out>/class_<k>/<chunk>/<n>.jpg|png
 *
 * Mix (by a seeded draw per image): 80% RGB JPEG (quality 70–95), 10% greyscale JPEG, 5% CMYK JPEG, 5% RGBA PNG
 * with a varying alpha, and 1 in 2 000 corrupt (a JPEG cut in half, or bytes that are no image at all).
 * Needs sharp (CMYK and fast encoding). Deterministic given --seed; a rerun into the same --out resumes (each image's
 * draws come from its own seed, so images already written are skipped).
 *
 *   node --conditions=@ssl/source --import tsx packages/core/bench/make-decode-folder.ts --out /tmp/decode-200k --count 200000
 */
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadSharp } from '../src/data/image-decode';
import { Random } from '../src/random';

interface SharpEncoder {
  toColourspace(space: string): SharpEncoder;
  jpeg(options: { quality: number }): SharpEncoder;
  png(options: { compressionLevel: number }): SharpEncoder;
  toBuffer(): Promise<Buffer>;
}
type SharpFromRaw = (input: Buffer, options: { raw: { width: number; height: number; channels: number } }) => SharpEncoder;

export interface GeneratedFolder {
  readonly images: number;
  readonly corrupt: number;
  readonly kinds: Record<string, number>;
  readonly bytes: number;
}

/** Photo-like pixels: a few low-frequency colour waves, a hard edge, and per-pixel noise. */
function photoPixels(width: number, height: number, channels: number, random: Random): Buffer {
  const data = Buffer.alloc(width * height * channels);
  const base = [random.uniform(60, 190), random.uniform(60, 190), random.uniform(60, 190)];
  // sin(a·x + b·y + φ) = sin(a·x)·cos(b·y + φ) + cos(a·x)·sin(b·y + φ): per-column and per-row tables, no sin per pixel.
  const waves = Array.from({ length: 3 }, () => {
    const fx = random.uniform(0.5, 4) / width;
    const fy = random.uniform(0.5, 4) / height;
    const phase = random.uniform(0, 2 * Math.PI);
    return {
      colour: [random.uniform(-80, 80), random.uniform(-80, 80), random.uniform(-80, 80)],
      sinX: Float32Array.from({ length: width }, (_, x) => Math.sin(2 * Math.PI * fx * x)),
      cosX: Float32Array.from({ length: width }, (_, x) => Math.cos(2 * Math.PI * fx * x)),
      sinY: Float32Array.from({ length: height }, (_, y) => Math.sin(2 * Math.PI * fy * y + phase)),
      cosY: Float32Array.from({ length: height }, (_, y) => Math.cos(2 * Math.PI * fy * y + phase)),
    };
  });
  const edgeX = random.uniform(0.2, 0.8) * width;
  const slope = random.uniform(-1, 1);
  let noise = random.nextUint32() | 1;
  const values = new Float32Array(3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bright = x > edgeX + slope * y ? 25 : -25;
      values[0] = base[0] + bright;
      values[1] = base[1] + bright;
      values[2] = base[2] + bright;
      for (const wave of waves) {
        const s = wave.sinX[x] * wave.cosY[y] + wave.cosX[x] * wave.sinY[y];
        values[0] += wave.colour[0] * s;
        values[1] += wave.colour[1] * s;
        values[2] += wave.colour[2] * s;
      }
      for (let c = 0; c < channels; c++) {
        noise ^= noise << 13;
        noise ^= noise >>> 17;
        noise ^= noise << 5;
        const value = c === 3 ? 255 * (0.3 + (0.7 * x) / width) : values[c] + ((noise >>> 0) / 4294967296 - 0.5) * 16;
        data[(y * width + x) * channels + c] = value < 0 ? 0 : value > 255 ? 255 : value;
      }
    }
  }
  return data;
}

/** An image's size, format and fate, drawn from its own seed (so a resumed generation skips images already written). */
function imagePlan(index: number, seed: number) {
  const random = new Random((seed * 1_000_003 + index) >>> 0);
  const width = 64 + random.int(449);
  const height = 64 + random.int(449);
  const draw = random.next();
  const corrupt = random.next() < 1 / 2000;
  const format = draw < 0.05 ? 'png-rgba' : draw < 0.1 ? 'jpeg-cmyk' : draw < 0.2 ? 'jpeg-grey' : 'jpeg-rgb';
  return { random, width, height, format, kind: corrupt ? 'corrupt' : format, extension: format === 'png-rgba' ? 'png' : 'jpg' };
}

async function encodeOne(sharp: SharpFromRaw, plan: ReturnType<typeof imagePlan>, index: number): Promise<Buffer> {
  const { random, width, height, format } = plan;
  let bytes: Buffer;
  if (format === 'png-rgba') {
    bytes = await sharp(photoPixels(width, height, 4, random), { raw: { width, height, channels: 4 } })
      .png({ compressionLevel: 1 })
      .toBuffer();
  } else if (format === 'jpeg-cmyk') {
    bytes = await sharp(photoPixels(width, height, 3, random), { raw: { width, height, channels: 3 } })
      .toColourspace('cmyk')
      .jpeg({ quality: 85 })
      .toBuffer();
  } else if (format === 'jpeg-grey') {
    bytes = await sharp(photoPixels(width, height, 1, random), { raw: { width, height, channels: 1 } })
      .jpeg({ quality: 85 })
      .toBuffer();
  } else {
    bytes = await sharp(photoPixels(width, height, 3, random), { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 70 + random.int(26) })
      .toBuffer();
  }
  if (plan.kind === 'corrupt') {
    bytes = random.next() < 0.5 ? bytes.subarray(0, bytes.length >> 1) : Buffer.from(`not an image ${index}\n`.repeat(20));
  }
  return bytes;
}

/** Writes `count` images under `out` with `concurrency` encodes in flight. */
export async function makeDecodeFolder(out: string, count: number, seed = 0, concurrency = 4): Promise<GeneratedFolder> {
  const sharp = loadSharp() as unknown as SharpFromRaw | undefined;
  if (!sharp) throw new Error('make-decode-folder needs sharp (pnpm install; its native binary must load here).');
  const kinds: Record<string, number> = {};
  let bytes = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      const plan = imagePlan(index, seed);
      const dir = join(out, `class_${index % 10}`, String(Math.floor(index / 10_000)).padStart(4, '0'));
      const file = join(dir, `${String(index).padStart(7, '0')}.${plan.extension}`);
      // Written under a temporary name and renamed, so a file that exists is whole: a rerun resumes by skipping it.
      if (!existsSync(file)) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(`${file}.partial`, await encodeOne(sharp, plan, index));
        renameSync(`${file}.partial`, file);
      }
      kinds[plan.kind] = (kinds[plan.kind] ?? 0) + 1;
      bytes += statSync(file).size;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { images: count, corrupt: kinds.corrupt ?? 0, kinds, bytes };
}

if (process.argv[1]?.endsWith('make-decode-folder.ts')) {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, count: { type: 'string', default: '200000' }, seed: { type: 'string', default: '0' } },
  });
  if (!values.out) throw new Error('usage: make-decode-folder.ts --out <dir> [--count 200000] [--seed 0]');
  const started = performance.now();
  const result = await makeDecodeFolder(values.out, Number(values.count), Number(values.seed));
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `wrote ${result.images} images (${(result.bytes / 2 ** 20).toFixed(0)} MiB) to ${values.out} in ${seconds.toFixed(0)} s: ` +
      Object.entries(result.kinds)
        .map(([kind, n]) => `${kind}=${n}`)
        .join(' '),
  );
}
