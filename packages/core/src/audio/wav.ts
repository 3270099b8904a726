import { SslError } from '../errors';

/** Decoded audio: samples in [-1, 1], channels mixed down to mono. */
export interface AudioClip {
  readonly sampleRate: number;
  readonly samples: Float32Array;
}

/**
 * Decodes a RIFF/WAVE file of 16-bit PCM (what `espeak-ng -w`, `sox` and most recorders write), any number of
 * channels averaged to mono. Other encodings are refused by name rather than read as noise.
 */
export function parseWav(bytes: Uint8Array, name = 'WAV data'): AudioClip {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (offset: number) => String.fromCharCode(...bytes.subarray(offset, offset + 4));
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new SslError('data', `${name}: not a RIFF/WAVE file.`);
  let format: { channels: number; sampleRate: number; bitsPerSample: number } | undefined;
  for (let offset = 12; offset + 8 <= bytes.length;) {
    const id = tag(offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') {
      const encoding = view.getUint16(body, true);
      format = {
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        bitsPerSample: view.getUint16(body + 14, true),
      };
      // 1: PCM; 0xFFFE: WAVE_FORMAT_EXTENSIBLE, whose sub-format we trust to be PCM at 16 bits.
      if ((encoding !== 1 && encoding !== 0xfffe) || format.bitsPerSample !== 16) {
        throw new SslError(
          'data',
          `${name}: only 16-bit PCM WAV is read, got format ${encoding} at ${format.bitsPerSample} bits; convert it (e.g. sox in.wav -b 16 out.wav).`,
        );
      }
    } else if (id === 'data') {
      if (!format) throw new SslError('data', `${name}: the data chunk comes before the fmt chunk.`);
      // espeak-ng writing to a pipe leaves the size at 0xFFFFFFFF: read to the end of the file then.
      const end = Math.min(body + size, bytes.length);
      return { sampleRate: format.sampleRate, samples: mixToMono(view, body, end, format.channels) };
    }
    offset = body + size + (size % 2);
  }
  throw new SslError('data', `${name}: no audio data chunk.`);
}

function mixToMono(view: DataView, start: number, end: number, channels: number): Float32Array {
  const frames = Math.floor((end - start) / (2 * channels));
  const samples = new Float32Array(frames);
  for (let frame = 0; frame < frames; frame++) {
    let sum = 0;
    for (let channel = 0; channel < channels; channel++) sum += view.getInt16(start + 2 * (frame * channels + channel), true);
    samples[frame] = sum / channels / 32768;
  }
  return samples;
}

/** Encodes mono samples in [-1, 1] as a 16-bit PCM WAV file (values beyond ±1 are clipped). */
export function encodeWav(clip: AudioClip): Uint8Array {
  const bytes = new Uint8Array(44 + 2 * clip.samples.length);
  const view = new DataView(bytes.buffer);
  const writeTag = (offset: number, text: string) => [...text].forEach((c, i) => (bytes[offset + i] = c.charCodeAt(0)));
  writeTag(0, 'RIFF');
  view.setUint32(4, bytes.length - 8, true);
  writeTag(8, 'WAVE');
  writeTag(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, clip.sampleRate, true);
  view.setUint32(28, clip.sampleRate * 2, true); // bytes per second
  view.setUint16(32, 2, true); // bytes per frame
  view.setUint16(34, 16, true);
  writeTag(36, 'data');
  view.setUint32(40, 2 * clip.samples.length, true);
  clip.samples.forEach((value, i) => view.setInt16(44 + 2 * i, Math.round(Math.max(-1, Math.min(1, value)) * 32767), true));
  return bytes;
}

/** Taps on each side of the windowed-sinc kernel: enough for a stop band well below 16-bit noise for speech. */
const SINC_HALF_WIDTH = 16;

/**
 * Band-limited resampling by windowed-sinc interpolation (Smith, "Digital Audio Resampling"): each output
 * sample is Σ x[n] · h(t − n) with h a sinc whose cut-off is the lower Nyquist frequency, under a Hann window
 * of ±SINC_HALF_WIDTH input periods (scaled when downsampling), so nothing above the new Nyquist aliases.
 */
export function resample(clip: AudioClip, sampleRate: number): AudioClip {
  if (!(Number.isInteger(sampleRate) && sampleRate > 0))
    throw new SslError('invalid-config', `resample: sampleRate must be a positive integer, got ${sampleRate}.`);
  if (sampleRate === clip.sampleRate) return clip;
  const ratio = sampleRate / clip.sampleRate;
  const cutoff = Math.min(1, ratio); // fraction of the input Nyquist frequency that survives
  const halfWidth = SINC_HALF_WIDTH / cutoff; // in input samples
  const input = clip.samples;
  const output = new Float32Array(Math.floor(input.length * ratio));
  for (let i = 0; i < output.length; i++) {
    const t = i / ratio;
    let sum = 0;
    for (let n = Math.max(0, Math.ceil(t - halfWidth)); n <= Math.min(input.length - 1, Math.floor(t + halfWidth)); n++) {
      const x = t - n;
      const window = 0.5 + 0.5 * Math.cos((Math.PI * x) / halfWidth);
      const argument = Math.PI * cutoff * x;
      sum += input[n] * cutoff * (argument === 0 ? 1 : Math.sin(argument) / argument) * window;
    }
    output[i] = sum;
  }
  return { sampleRate, samples: output };
}

/** μ of the G.711 μ-law companding curve. */
const MU = 255;

/**
 * 8-bit μ-law (ITU-T G.711's continuous curve, y = sgn(x) · ln(1 + μ|x|) / ln(1 + μ), μ = 255, quantised to
 * 256 levels): telephone-quality speech in half the bytes of 16-bit PCM, which is how the bundled speech
 * sample stays small. Values beyond ±1 are clipped.
 */
export function encodeMuLaw(samples: Float32Array): Uint8Array {
  return Uint8Array.from(samples, (x) => {
    const clipped = Math.max(-1, Math.min(1, x));
    const y = (Math.sign(clipped) * Math.log1p(MU * Math.abs(clipped))) / Math.log1p(MU);
    return Math.round(((y + 1) / 2) * 255);
  });
}

/** The inverse of encodeMuLaw: x = sgn(y) · ((1 + μ)^|y| − 1) / μ. */
export function decodeMuLaw(codes: Uint8Array): Float32Array {
  return Float32Array.from(codes, (code) => {
    const y = (code / 255) * 2 - 1;
    return (Math.sign(y) * ((1 + MU) ** Math.abs(y) - 1)) / MU;
  });
}
