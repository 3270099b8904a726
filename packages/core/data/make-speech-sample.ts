/**
 * Writes the spoken-classes speech set (data/spoken-classes-sample/, or a folder given with --out): every text
 * of SPOKEN_CLASS_TEXTS spoken by every voice of SPEECH_VOICES with Debian's espeak-ng (apt-get install
 * espeak-ng), resampled to 8 kHz, silence trimmed, centred in CLIP_SECONDS, stored as 8-bit μ-law IDX.
 *
 *   node --conditions=@ssl/source --import tsx packages/core/data/make-speech-sample.ts [--out <dir>] [--speeds 0.8,1,1.2] [--pitches -15,0,15]
 *
 * --speeds / --pitches multiply each voice's speed and shift its pitch: the full set for experiments is the
 * product (the bundled sample uses each voice once).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SPOKEN_CLASSES_FILES } from '../src/audio/spoken-classes';
import { SPEECH_VOICES, SPOKEN_CLASS_TEXTS, type SpeechVoice } from '../src/audio/speech-texts';
import { encodeMuLaw, parseWav, resample } from '../src/audio/wav';
import { encodeIdx } from '../src/data/idx';

const SAMPLE_RATE = 8000;
const CLIP_SECONDS = 1.5;
/** Samples quieter than this (of full scale) at both ends are silence espeak-ng pads with. */
const SILENCE = 0.01;

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(dirname(fileURLToPath(import.meta.url)), 'spoken-classes-sample') },
    speeds: { type: 'string', default: '1' },
    pitches: { type: 'string', default: '0' },
  },
});

function speak(text: string, voice: SpeechVoice, workDir: string): Float32Array {
  const wav = join(workDir, 'clip.wav');
  execFileSync('espeak-ng', ['-v', voice.voice, '-s', String(voice.speed), '-p', String(voice.pitch), '-w', wav, text]);
  const clip = resample(parseWav(readFileSync(wav), `espeak-ng "${text}"`), SAMPLE_RATE);
  return fitClip(clip.samples, text);
}

/** Trims the silence at both ends and centres the speech in a clip of CLIP_SECONDS (refusing longer speech). */
function fitClip(samples: Float32Array, text: string): Float32Array {
  let start = 0;
  let end = samples.length;
  while (start < end && Math.abs(samples[start]) < SILENCE) start++;
  while (end > start && Math.abs(samples[end - 1]) < SILENCE) end--;
  const length = Math.round(CLIP_SECONDS * SAMPLE_RATE);
  const speech = samples.subarray(start, end);
  if (speech.length > length) throw new Error(`"${text}" lasts ${(speech.length / SAMPLE_RATE).toFixed(2)} s, over ${CLIP_SECONDS} s: speak it faster.`);
  const clip = new Float32Array(length);
  clip.set(speech, Math.floor((length - speech.length) / 2));
  return clip;
}

function writeSplit(split: 'train' | 'test', voices: SpeechVoice[], workDir: string) {
  const clips: Float32Array[] = [];
  const labels: number[] = [];
  const texts: string[] = [];
  const names: string[] = [];
  SPOKEN_CLASS_TEXTS.forEach((classTexts, label) => {
    for (const text of classTexts) {
      for (const voice of voices) {
        clips.push(speak(text, voice, workDir));
        labels.push(label);
        texts.push(text);
        names.push(`${voice.voice} s${voice.speed} p${voice.pitch}`);
      }
    }
  });
  const length = clips[0].length;
  const codes = new Uint8Array(clips.length * length);
  clips.forEach((clip, i) => codes.set(encodeMuLaw(clip), i * length));
  writeFileSync(join(values.out, SPOKEN_CLASSES_FILES[split].audio), encodeIdx([clips.length, length], codes));
  writeFileSync(join(values.out, SPOKEN_CLASSES_FILES[split].labels), encodeIdx([clips.length], Uint8Array.from(labels)));
  console.log(`${split}: ${clips.length} clips of ${CLIP_SECONDS} s at ${SAMPLE_RATE} Hz`);
  return { texts, voices: names };
}

function main(): void {
  const speeds = values.speeds.split(',').map(Number);
  const pitches = values.pitches.split(',').map(Number);
  const vary = (voices: readonly SpeechVoice[]) =>
    voices.flatMap((voice) =>
      speeds.flatMap((speed) => pitches.map((pitch) => ({ voice: voice.voice, speed: Math.round(voice.speed * speed), pitch: Math.max(0, Math.min(99, voice.pitch + pitch)) }))),
    );
  mkdirSync(values.out, { recursive: true });
  const workDir = mkdtempSync(join(tmpdir(), 'speech-sample-'));
  try {
    const splits = { train: writeSplit('train', vary(SPEECH_VOICES.train), workDir), test: writeSplit('test', vary(SPEECH_VOICES.test), workDir) };
    writeFileSync(join(values.out, SPOKEN_CLASSES_FILES.metadata), `${JSON.stringify({ sampleRate: SAMPLE_RATE, splits })}\n`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main();
