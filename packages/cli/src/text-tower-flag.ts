import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SslError, loadRun, type MethodHandle } from '@ssl/core';
import { clipWithTextTower, textTowerFromRun, type ClipConfig } from '@ssl/clip';
import { readSavedRun } from './commands/saved-run';

/** The method `--text-tower` starts, and the method whose run it starts from. */
const TOWER_METHOD = 'clip:clip';
const TOWER_SOURCE = 'masked:mlm';

/** The fields of a text tower's shape: a tower differing in one of them cannot take the run's weights. */
const TOWER_FIELDS = ['embedDim', 'depth', 'numHeads', 'mlpRatio', 'maxLength'] as const;

/**
 * `--text-tower <run>`: checks, before any data is loaded, that `runDir` holds a finished masked:mlm run and that
 * the method is clip:clip, and returns the `text` config of that tower (bidirectional, as it was trained) for the
 * method's config. A `text` given in --config must have the tower's shape. Each refusal is one line naming the flag.
 */
export function checkTextTowerFlag(runDir: string, methodId: string, givenText: unknown): ClipConfig['text'] {
  if (methodId !== TOWER_METHOD) {
    throw new SslError(
      'invalid-config',
      `--text-tower starts ${TOWER_METHOD}'s text tower from a ${TOWER_SOURCE} run; ${methodId} has no such tower: drop --text-tower.`,
    );
  }
  const saved = readSavedRun(runDir);
  if (!saved)
    throw new SslError('io', `--text-tower ${runDir} holds no run (no config.json): pass the directory of a finished ${TOWER_SOURCE} run.`);
  if (saved.config.method !== TOWER_SOURCE) {
    throw new SslError(
      'invalid-config',
      `--text-tower ${runDir} is a ${saved.config.method} run; ${TOWER_METHOD}'s text tower starts from a finished ${TOWER_SOURCE} run.`,
    );
  }
  if (!existsSync(join(runDir, 'encoder', 'model.json'))) {
    throw new SslError(
      'io',
      `--text-tower ${runDir} has no saved tower yet (encoder/model.json): let the ${TOWER_SOURCE} run finish first.`,
    );
  }
  const tower = (saved.config.config as { text?: Omit<ClipConfig['text'], 'causal'> }).text;
  if (!tower) throw new SslError('io', `--text-tower ${runDir}/config.json has no config.text: not a ${TOWER_SOURCE} run directory.`);
  const text: ClipConfig['text'] = { ...tower, causal: false };
  if (givenText !== undefined) {
    const given = givenText as Partial<ClipConfig['text']>;
    const mismatch = TOWER_FIELDS.find((field) => given[field] !== undefined && given[field] !== text[field]);
    if (mismatch || given.causal === true) {
      const size = TOWER_FIELDS.map((field) => `${field} ${text[field]}`).join(', ');
      const asked = mismatch ? `${mismatch} ${String(given[mismatch])}` : 'causal attention';
      throw new SslError(
        'invalid-config',
        `--text-tower ${runDir} is a bidirectional tower of ${size}; --config "method".text asks for ${asked}: drop "text" from --config or give the tower's.`,
      );
    }
  }
  return text;
}

/**
 * clip:clip started from the checked run's tower: a method's build is synchronous and loading a run is not, so the
 * run is loaded here (after the backend is up) and its tower handed to the method, which copies its weights and
 * takes its tokenizer. The handle keeps its id, so the run is a clip:clip run like any other (clipModelFromRun).
 */
export async function withTextTower(method: MethodHandle, runDir: string): Promise<MethodHandle> {
  const tower = textTowerFromRun(await loadRun(runDir));
  return { ...method, definition: clipWithTextTower(tower) as unknown as MethodHandle['definition'] };
}
