/**
 * The order in which an epoch visits a streamed set: its shuffle groups (shards) in a seeded random order, each
 * read front to back, through a shuffle buffer of `bufferSize` samples (WebDataset's `shuffle(n)`): every new
 * sample replaces a uniformly drawn one of the buffer, which is emitted. Sequential reads within a shard, a
 * shuffle whose quality grows with the buffer, and an order that is a pure function of (seed, epoch): a run
 * resumed at position p regenerates the order (ids only, no reading) and skips p samples.
 */
import { Random } from '../../random';

/** Hashes (seed, epoch) into one 32-bit seed (murmur3 finaliser), so neighbouring epochs get unrelated orders. */
function epochSeed(seed: number, epoch: number): number {
  let h = (seed >>> 0) ^ Math.imul(epoch + 1, 0x85ebca77);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Sample ids of epoch `epoch` in visiting order. `groupStart` delimits the groups (samples groupStart[g] ..
 * groupStart[g+1]-1); bufferSize 0 or 1 reads the groups in shuffled order without mixing them.
 */
export function* streamOrder(groupStart: Int32Array, seed: number, epoch: number, bufferSize: number): Generator<number, void, undefined> {
  const random = new Random(epochSeed(seed, epoch));
  const groups = random.permutation(groupStart.length - 1);
  const capacity = Math.max(1, Math.floor(bufferSize));
  const buffer: number[] = [];
  for (const group of groups) {
    for (let id = groupStart[group]; id < groupStart[group + 1]; id++) {
      if (buffer.length < capacity) {
        buffer.push(id);
        continue;
      }
      const slot = random.int(capacity);
      const out = buffer[slot];
      buffer[slot] = id;
      yield out;
    }
  }
  // Drain what is left in a random order.
  random.shuffle(buffer);
  yield* buffer;
}
