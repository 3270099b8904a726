import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../audio/wav';
import { loadImageAudioFolder, holdsImageAudioPairs, splitImageAudioPairs } from './image-audio-folder';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ssl-image-audio-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A 4×4 grey PNG of one value. */
function png(value: number): Buffer {
  const image = new pngjs.PNG({ width: 4, height: 4 });
  image.data.fill(value);
  for (let i = 3; i < image.data.length; i += 4) image.data[i] = 255;
  return pngjs.PNG.sync.write(image);
}

/** A 16-bit PCM WAV of `samples` (mono) or of two channels whose mean is `samples`. */
function wav(samples: number[], sampleRate: number, stereo = false): Uint8Array {
  const mono = encodeWav({ sampleRate, samples: Float32Array.from(samples) });
  if (!stereo) return mono;
  // Channels 0.2 above and below the signal: their mean is the signal.
  const bytes = new Uint8Array(44 + 4 * samples.length);
  bytes.set(mono.subarray(0, 44));
  const view = new DataView(bytes.buffer);
  view.setUint32(4, bytes.length - 8, true);
  view.setUint16(22, 2, true);
  view.setUint32(28, sampleRate * 4, true);
  view.setUint16(32, 4, true);
  view.setUint32(40, 4 * samples.length, true);
  samples.forEach((value, i) => {
    view.setInt16(44 + 4 * i, Math.round((value + 0.2) * 32767), true);
    view.setInt16(46 + 4 * i, Math.round((value - 0.2) * 32767), true);
  });
  return bytes;
}

async function folder(name: string, files: Record<string, Uint8Array | string>): Promise<string> {
  const dir = join(root, name);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

const options = { size: [4, 4] as [number, number], channels: 1 as const, sampleRate: 8000, clipSamples: 6, decoder: 'js' as const };

describe('loadImageAudioFolder', () => {
  it('pairs each image with the WAV of its base name, by class sub-folder, mixing to mono, resampling and fitting the length', async () => {
    const dir = await folder('classes', {
      'cat/b.png': png(10),
      'cat/b.wav': wav([0.5, -0.5], 8000), // short: zero-padded at the end
      'cat/a.png': png(20),
      'cat/a.wav': wav([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], 8000, true), // long, stereo: its middle 6, the channels' mean
      'dog/c.jpg': png(30), // a PNG under a .jpg name: decoded by its header
      'dog/c.wav': wav(Array.from({ length: 32 }, (_, i) => Math.sin(i / 4) / 2), 16000), // resampled to 8 kHz: 16 samples, cut to 6
      'notes.txt': 'not data',
    });
    expect(await holdsImageAudioPairs(dir)).toBe(true);
    const pairs = await loadImageAudioFolder(dir, options);
    expect(pairs.pairing).toBe('pair');
    expect(pairs.files.map((pair) => pair.image.slice(dir.length + 1))).toEqual(['cat/a.png', 'cat/b.png', 'dog/c.jpg']);
    expect(Array.from(pairs.images.labels!)).toEqual([0, 0, 1]);
    expect(pairs.images.classNames).toEqual(['cat', 'dog']);
    expect(Array.from(pairs.audio.labels)).toEqual([0, 0, 1]);
    expect([pairs.images.images[0], pairs.images.images[16], pairs.images.images[32]]).toEqual([20, 10, 30]);
    expect(pairs.audio.length).toBe(6);
    const clip = (i: number) => Array.from(pairs.audio.samples.subarray(6 * i, 6 * i + 6));
    clip(0).forEach((value, t) => expect(value).toBeCloseTo([0.2, 0.3, 0.4, 0.5, 0.6, 0.7][t], 3));
    clip(1).forEach((value, t) => expect(value).toBeCloseTo([0.5, -0.5, 0, 0, 0, 0][t], 3));
    expect(clip(2).some((value) => Math.abs(value) > 0.1)).toBe(true);
  });

  it('reads unlabeled pairs at the top level as one class per pair, and splits pairs keeping images and clips together', async () => {
    const files: Record<string, Uint8Array> = {};
    for (let i = 0; i < 10; i++) {
      files[`${i}.png`] = png(10 * i);
      files[`${i}.wav`] = wav([i / 10], 8000);
    }
    const pairs = await loadImageAudioFolder(await folder('flat', files), options);
    expect(pairs.images.labels).toBeUndefined();
    expect(Array.from(pairs.audio.labels)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const { train, test } = splitImageAudioPairs(pairs, { testFraction: 0.2, seed: 1 });
    expect([train.images.size, test.images.size, test.audio.size]).toEqual([8, 2, 2]);
    for (const part of [train, test]) {
      for (let k = 0; k < part.images.size; k++) expect(part.audio.samples[k * 6]).toBeCloseTo(part.images.images[k * 16] / 100, 3);
    }
    expect(new Set([...train.audio.labels, ...test.audio.labels]).size).toBe(10);
  });

  it('refuses a missing partner, an unreadable or non-PCM WAV, ambiguous names and mixed layouts, naming the file in one line', async () => {
    const expectError = async (dir: string, pattern: RegExp) => {
      const error = await loadImageAudioFolder(dir, options).then(
        () => undefined,
        (thrown: Error) => thrown,
      );
      expect(error?.message).toMatch(pattern);
      expect(error?.message).not.toContain('\n');
    };
    await expectError(await folder('no-wav', { 'a.png': png(1), 'b.png': png(2), 'b.wav': wav([0], 8000) }), /a\.png: no a\.wav beside it \(.* holds 2 images and 1 WAV files\)/);
    await expectError(await folder('no-image', { 'a.png': png(1), 'a.wav': wav([0], 8000), 'z.wav': wav([0], 8000) }), /z\.wav: no z\.png\/\.jpg\/\.jpeg beside it/);
    await expectError(await folder('garbage', { 'a.png': png(1), 'a.wav': 'not audio' }), /a\.wav: not a RIFF\/WAVE file/);
    const float = wav([0.5], 8000);
    new DataView(float.buffer).setUint16(20, 3, true); // IEEE float
    await expectError(await folder('float', { 'a.png': png(1), 'a.wav': float }), /a\.wav: only 16-bit PCM WAV is read, got format 3/);
    await expectError(await folder('empty-wav', { 'a.png': png(1), 'a.wav': wav([], 8000) }), /a\.wav: the recording holds no samples/);
    await expectError(await folder('bad-image', { 'a.png': 'not an image', 'a.wav': wav([0], 8000) }), /a\.png: .*(not a PNG or JPEG|cannot decode)/);
    await expectError(await folder('twins', { 'a.png': png(1), 'a.jpg': png(1), 'a.wav': wav([0], 8000) }), /a\.png: a\.jpg has the same base name/);
    await expectError(
      await folder('mixed', { 'x.png': png(1), 'x.wav': wav([0], 8000), 'cat/a.png': png(1), 'cat/a.wav': wav([0], 8000) }),
      /x\.png: .* holds class sub-folders and also pairs at its top level/,
    );
    await expectError(await folder('empty-class', { 'cat/a.png': png(1), 'cat/a.wav': wav([0], 8000), 'dog/readme.txt': 'x' }), /dog: class folder "dog" holds no \(image, WAV\) pairs/);
    await expectError(join(root, 'does-not-exist'), /does-not-exist: cannot list the folder \(ENOENT\)/);
    expect(await holdsImageAudioPairs(await folder('images-only', { 'cat/a.png': png(1) }))).toBe(false);
  });
});
