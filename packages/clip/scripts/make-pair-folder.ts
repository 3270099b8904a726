/**
 * Writes a folder of real (image, WAV) pairs in the layout `loadImageAudioFolder` reads: `<class>/<nnnn>.png`
 * beside `<class>/<nnnn>.wav`, each image a Fashion-MNIST sample image and each WAV its class name spoken by
 * Debian's espeak-ng (apt-get install espeak-ng), its own voice per pair (SPEECH_VOICES' train voices in turn),
 * leading and trailing silence trimmed, resampled to 8 kHz, 16-bit PCM mono. The committed fixture
 * (test-data/fashion-pairs, 3 pairs per class) is its default output.
 *
 *   node --conditions=@ssl/source --import tsx packages/clip/scripts/make-pair-folder.ts [--out <dir>] [--per-class 3]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FASHION_MNIST, SPEECH_VOICES, SPOKEN_CLASS_TEXTS, encodeWav, loadFashionMnist, parseWav, resample } from '@ssl/core';
import { greyImage, imageGridPng } from '@ssl/eval';

const SAMPLE_RATE = 8000;
/** Samples quieter than this (of full scale) at both ends are the silence espeak-ng pads with. */
const SILENCE = 0.01;

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(dirname(fileURLToPath(import.meta.url)), '..', 'test-data', 'fashion-pairs') },
    'per-class': { type: 'string', default: '3' },
  },
});
const perClass = Number(values['per-class']);
const images = await loadFashionMnist({ split: 'train', source: 'sample' });
const workDir = mkdtempSync(join(tmpdir(), 'ssl-pairs-'));
const pixels = 28 * 28;
let pair = 0;
try {
  for (let label = 0; label < 10; label++) {
    // Folder names without spaces or slashes ("T-shirt/top" → "t-shirt-top").
    const classDir = join(values.out, FASHION_MNIST.classNames[label].toLowerCase().replace(/[^a-z]+/g, '-'));
    mkdirSync(classDir, { recursive: true });
    const ids = Array.from(images.labels!)
      .flatMap((imageLabel, id) => (imageLabel === label ? [id] : []))
      .slice(0, perClass);
    for (const id of ids) {
      const base = join(classDir, String(pair).padStart(4, '0'));
      const grey = Float32Array.from(images.images.subarray(id * pixels, (id + 1) * pixels), (value) => value / 255);
      writeFileSync(`${base}.png`, imageGridPng([[greyImage(grey, 28, 28)]], { scale: 1, gap: 0 }));
      const voice = SPEECH_VOICES.train[pair % SPEECH_VOICES.train.length];
      const wav = join(workDir, 'clip.wav');
      const text = SPOKEN_CLASS_TEXTS[label][0];
      execFileSync('espeak-ng', ['-v', voice.voice, '-s', String(voice.speed), '-p', String(voice.pitch), '-w', wav, text]);
      const samples = resample(parseWav(readFileSync(wav), `espeak-ng "${text}"`), SAMPLE_RATE).samples;
      let [start, end] = [0, samples.length];
      while (start < end && Math.abs(samples[start]) < SILENCE) start++;
      while (end > start && Math.abs(samples[end - 1]) < SILENCE) end--;
      writeFileSync(`${base}.wav`, encodeWav({ sampleRate: SAMPLE_RATE, samples: samples.slice(start, end) }));
      pair++;
    }
  }
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
console.log(`${pair} pairs in ${values.out}`);
