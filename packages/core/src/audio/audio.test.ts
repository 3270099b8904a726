import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from '../train/fixtures/backend';
import { Random } from '../random';
import { frameCount, hzToMel, logMelSpectrogram, melFilterbank, melToHz, resolveLogMelOptions } from './log-mel';
import { SPOKEN_CLASS_TEXTS } from './speech-texts';
import { loadSpokenClasses } from './spoken-classes';
import { decodeMuLaw, encodeMuLaw, encodeWav, parseWav, resample } from './wav';

beforeAll(useTestBackend);

const sine = (hz: number, sampleRate: number, seconds: number, amplitude = 0.5) =>
  Float32Array.from({ length: Math.round(sampleRate * seconds) }, (_, n) => amplitude * Math.sin((2 * Math.PI * hz * n) / sampleRate));

const rms = (values: Float32Array) => Math.sqrt(values.reduce((sum, v) => sum + v * v, 0) / values.length);

describe('WAV', () => {
  it('round-trips 16-bit PCM within one quantisation step, and mixes stereo to mono', () => {
    const clip = { sampleRate: 16000, samples: sine(440, 16000, 0.05) };
    const decoded = parseWav(encodeWav(clip));
    expect(decoded.sampleRate).toBe(16000);
    decoded.samples.forEach((value, i) => expect(Math.abs(value - clip.samples[i])).toBeLessThan(1 / 32767));

    // Stereo by hand: left 0.5, right −0.25 in every frame; the mono mix is their mean.
    const stereo = encodeWav({ sampleRate: 8000, samples: new Float32Array(8) });
    const view = new DataView(stereo.buffer);
    view.setUint16(22, 2, true);
    for (let frame = 0; frame < 4; frame++) {
      view.setInt16(44 + 4 * frame, 16384, true);
      view.setInt16(46 + 4 * frame, -8192, true);
    }
    expect(Array.from(parseWav(stereo).samples)).toEqual([0.125, 0.125, 0.125, 0.125]);
  });

  it('refuses what it cannot read, by name', () => {
    const eightBit = encodeWav({ sampleRate: 8000, samples: new Float32Array(4) });
    new DataView(eightBit.buffer).setUint16(34, 8, true);
    expect(() => parseWav(eightBit, 'voice.wav')).toThrow(/voice\.wav: only 16-bit PCM WAV is read, got format 1 at 8 bits/);
    expect(() => parseWav(new Uint8Array(20), 'x.wav')).toThrow(/x\.wav: not a RIFF\/WAVE file/);
  });
});

describe('resample', () => {
  it('keeps a tone below the new Nyquist frequency and removes one above it', () => {
    const kept = resample({ sampleRate: 22050, samples: sine(440, 22050, 0.2) }, 8000);
    expect(kept.samples.length).toBe(1600);
    const expected = sine(440, 8000, 0.2);
    // Away from the ends (the kernel's support is cut there) the output is the same tone sampled at 8 kHz.
    for (let i = 100; i < 1500; i++) expect(Math.abs(kept.samples[i] - expected[i])).toBeLessThan(5e-3);
    // 6 kHz folds to 2 kHz at 8 kHz if not filtered: the windowed sinc leaves under 1% of it.
    const removed = resample({ sampleRate: 22050, samples: sine(6000, 22050, 0.2) }, 8000);
    expect(rms(removed.samples.subarray(100, 1500))).toBeLessThan(0.01 * rms(sine(6000, 22050, 0.2)));
  });
});

describe('logMelSpectrogram', () => {
  it('maps HTK mel and back, and builds triangular filters that peak at 1 on their centre edges', () => {
    expect(melToHz(hzToMel(1234.5))).toBeCloseTo(1234.5, 6);
    expect(hzToMel(700)).toBeCloseTo(2595 * Math.log10(2), 9);
    const options = resolveLogMelOptions({ sampleRate: 8000, frameLength: 200, frameStep: 80, melBins: 20 });
    expect(options.fftLength).toBe(256);
    const filters = melFilterbank(options);
    for (let band = 0; band < 20; band++) {
      const column = Array.from({ length: 129 }, (_, k) => filters[k * 20 + band]);
      expect(Math.max(...column)).toBeGreaterThan(0.5);
      expect(Math.max(...column)).toBeLessThanOrEqual(1);
    }
    expect(frameCount(8000, options)).toBe(98);
  });

  it("equals numpy's FFT-based reference on speech-like signals", () => {
    const random = new Random(7);
    const sampleRate = 8000;
    const tone = sine(300, sampleRate, 0.1);
    const signals = [tone.map((v, n) => v + 0.3 * Math.sin((2 * Math.PI * 1700 * n) / sampleRate)), tone.map(() => 0.2 * random.normal())];
    const options = { sampleRate, frameLength: 200, frameStep: 80, fftLength: 256, melBins: 24, fMin: 20, fMax: 3800, floor: 1e-6 };
    const reference = spawnSync('python3', [join(import.meta.dirname, 'fixtures', 'log_mel_reference.py')], {
      input: JSON.stringify({ signals: signals.map((s) => Array.from(s)), ...options }),
      encoding: 'utf8',
    });
    expect(reference.status, reference.stderr).toBe(0);
    const expected = JSON.parse(reference.stdout) as number[][][];
    const input = tf.tensor2d([...signals[0], ...signals[1]], [2, signals[0].length]);
    const actual = logMelSpectrogram(input, options);
    expect(actual.shape).toEqual([2, 8, 24]);
    const values = actual.arraySync();
    let worst = 0;
    values.forEach((frames, b) =>
      frames.forEach((bands, t) => bands.forEach((v, m) => (worst = Math.max(worst, Math.abs(v - expected[b][t][m]))))),
    );
    // float32 DFT sums against float64 FFT, in the log domain.
    expect(worst).toBeLessThan(1e-3);
    tf.dispose([input, actual]);
  });

  it('is differentiable with respect to the waveform (central differences)', () => {
    const options = { sampleRate: 800, frameLength: 16, frameStep: 8, fftLength: 16, melBins: 4 };
    const random = new Random(3);
    const signal = Float32Array.from({ length: 48 }, () => random.normal());
    const objective = (x: tf.Tensor) => tf.sum(logMelSpectrogram(x as tf.Tensor2D, options)) as tf.Scalar;
    const input = tf.tensor2d(signal, [1, 48]);
    const gradient = tf.grad(objective)(input);
    const analytic = gradient.dataSync();
    for (const index of [3, 17, 30, 44]) {
      const shifted = (delta: number) => {
        const values = Float32Array.from(signal);
        values[index] += delta;
        return tf.tidy(() => objective(tf.tensor2d(values, [1, 48])).dataSync()[0]);
      };
      const numeric = (shifted(1e-2) - shifted(-1e-2)) / 2e-2;
      expect(Math.abs(analytic[index] - numeric)).toBeLessThan(0.02 * Math.max(1, Math.abs(numeric)));
    }
    tf.dispose([input, gradient]);
  });

  it('names the option that is wrong', () => {
    const input = tf.zeros([1, 100]) as tf.Tensor2D;
    expect(() => logMelSpectrogram(input, { sampleRate: 8000 })).toThrow(
      /signals = "100 samples": expected at least frameLength \(200\) samples/,
    );
    expect(() => logMelSpectrogram(input, { sampleRate: 8000, frameLength: 50, fftLength: 32 })).toThrow(
      /fftLength = 32: expected at least frameLength \(50\)/,
    );
    expect(() => logMelSpectrogram(input, { sampleRate: 8000, frameLength: 50, fMax: 5000 })).toThrow(/fMax = 5000/);
    input.dispose();
  });
});

describe('μ-law', () => {
  it('round-trips within the curve’s step (finer near silence, as G.711 intends) and clips beyond ±1', () => {
    const values = Float32Array.from({ length: 401 }, (_, i) => -1 + i / 200);
    const decoded = decodeMuLaw(encodeMuLaw(values));
    values.forEach((x, i) => expect(Math.abs(decoded[i] - x)).toBeLessThanOrEqual(0.02 * Math.abs(x) + 0.002));
    expect(Array.from(decodeMuLaw(encodeMuLaw(Float32Array.from([2, -3]))))).toEqual([1, -1]);
  });
});

describe('loadSpokenClasses', () => {
  it('loads the bundled speech: 10 classes × 2 texts, five train voices and a held-out test voice, real speech in every clip', () => {
    const train = loadSpokenClasses({ split: 'train' });
    const test = loadSpokenClasses({ split: 'test' });
    expect([train.size, test.size, train.sampleRate, train.length]).toEqual([100, 20, 8000, 12000]);
    expect(train.samples.length).toBe(100 * 12000);
    for (let label = 0; label < 10; label++) expect(train.labels.filter((l) => l === label)).toHaveLength(10);
    train.texts.forEach((text, i) => expect(SPOKEN_CLASS_TEXTS[train.labels[i]]).toContain(text));
    expect(new Set(test.voices).size).toBe(1);
    expect(train.voices).not.toContain(test.voices[0]);
    expect(train.classNames[9]).toBe('Ankle boot');
    // Speech, not silence: every clip's loudest 10 ms is well above the μ-law floor.
    for (let clip = 0; clip < train.size; clip++) {
      const samples = train.samples.subarray(clip * 12000, (clip + 1) * 12000);
      expect(Math.max(...samples.map(Math.abs))).toBeGreaterThan(0.1);
    }
  });

  it('names a folder that lacks the files', () => {
    expect(() => loadSpokenClasses({ source: '/nonexistent-speech' })).toThrow(/nonexistent-speech\/train-audio-idx2-ulaw\.gz is missing/);
  });
});
