import { SslError } from '../errors';

/** The safetensors dtypes an exported state dict uses: float weights and PyTorch's int64 batch counters. */
export type SafetensorsDtype = 'F32' | 'I64';

/** One tensor of a safetensors file, its values in row-major order. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  /** [] for a scalar (PyTorch's `num_batches_tracked`). */
  readonly shape: readonly number[];
  readonly values: Float32Array | BigInt64Array;
}

const BYTES_PER_VALUE: Record<SafetensorsDtype, number> = { F32: 4, I64: 8 };

function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, size) => product * size, 1);
}

/**
 * The bytes of a safetensors file (https://huggingface.co/docs/safetensors): an unsigned 64-bit little-endian
 * header length, a UTF-8 JSON header `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__ }`
 * padded with spaces to a multiple of 8 bytes (so every tensor's data is 8-byte aligned for readers that map
 * the file), then each tensor's values, little-endian, contiguous in entry order. Values are written through
 * a DataView with explicit little-endian order, so the file is the same on any host.
 */
export function serializeSafetensors(entries: readonly SafetensorsEntry[], metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const entry of entries) {
    if (entry.name === '__metadata__')
      throw new SslError('invalid-config', 'A tensor cannot be named __metadata__ (reserved by safetensors).');
    if (entry.name in header) throw new SslError('invalid-config', `Two tensors are named ${entry.name}; safetensors names are unique.`);
    if (entry.values.length !== elementCount(entry.shape)) {
      throw new SslError(
        'shape-mismatch',
        `Tensor ${entry.name} has ${entry.values.length} values but shape [${entry.shape.join(', ')}] needs ${elementCount(entry.shape)}.`,
      );
    }
    const expectedArray = entry.dtype === 'F32' ? Float32Array : BigInt64Array;
    if (!(entry.values instanceof expectedArray)) {
      throw new SslError('dtype-mismatch', `Tensor ${entry.name} is ${entry.dtype} but its values are a ${entry.values.constructor.name}.`);
    }
    const byteLength = entry.values.length * BYTES_PER_VALUE[entry.dtype];
    header[entry.name] = { dtype: entry.dtype, shape: [...entry.shape], data_offsets: [offset, offset + byteLength] };
    offset += byteLength;
  }
  let json = JSON.stringify(header);
  const headerLength = new TextEncoder().encode(json).byteLength;
  json += ' '.repeat((8 - (headerLength % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + headerBytes.byteLength + offset);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(headerBytes.byteLength), true);
  bytes.set(headerBytes, 8);
  let position = 8 + headerBytes.byteLength;
  for (const entry of entries) {
    if (entry.values instanceof Float32Array) {
      for (const value of entry.values) {
        view.setFloat32(position, value, true);
        position += 4;
      }
    } else {
      for (const value of entry.values) {
        view.setBigInt64(position, value, true);
        position += 8;
      }
    }
  }
  return bytes;
}

/** A tensor read back by `parseSafetensors`. */
export interface ParsedSafetensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  readonly values: Float32Array | BigInt64Array;
}

/**
 * Reads a safetensors file of F32 and I64 tensors (what `serializeSafetensors` writes), checking that the
 * header's offsets tile the data exactly; throws SslError('io') naming what is wrong.
 */
export function parseSafetensors(bytes: Uint8Array): { tensors: Map<string, ParsedSafetensor>; metadata: Record<string, string> } {
  const fail = (problem: string): never => {
    throw new SslError('io', `Not a valid safetensors file: ${problem}.`);
  };
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes is shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.byteLength)
    fail(`the header says ${headerLength} bytes but the file has ${bytes.byteLength - 8} after the length`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  } catch (error) {
    return fail(`the header is not JSON (${(error as Error).message})`);
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  const tensors = new Map<string, ParsedSafetensor>();
  const ranges: [number, number][] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: offsets } = value as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (dtype !== 'F32' && dtype !== 'I64') return fail(`tensor ${name} has dtype ${String(dtype)}; only F32 and I64 are read`);
    if (!Array.isArray(shape) || !Array.isArray(offsets) || offsets.length !== 2)
      return fail(`tensor ${name} has no shape or data_offsets`);
    const [begin, end] = offsets;
    if (!(begin >= 0 && end <= dataLength && end - begin === elementCount(shape) * BYTES_PER_VALUE[dtype])) {
      fail(`tensor ${name}'s data_offsets [${begin}, ${end}] do not fit its shape [${shape.join(', ')}] inside ${dataLength} data bytes`);
    }
    ranges.push([begin, end]);
    const count = elementCount(shape);
    const values = dtype === 'F32' ? new Float32Array(count) : new BigInt64Array(count);
    for (let i = 0; i < count; i++) {
      const at = dataStart + begin + i * BYTES_PER_VALUE[dtype];
      if (values instanceof Float32Array) values[i] = view.getFloat32(at, true);
      else values[i] = view.getBigInt64(at, true);
    }
    tensors.set(name, { dtype, shape, values });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  let covered = 0;
  for (const [begin, end] of ranges) {
    if (begin !== covered) fail(`the tensors' data leaves a gap or overlaps at byte ${covered}`);
    covered = end;
  }
  if (covered !== dataLength) fail(`${dataLength - covered} data bytes after the last tensor belong to none`);
  return { tensors, metadata: (header.__metadata__ ?? {}) as Record<string, string> };
}
