import { SslError } from '../errors';

/**
 * The safetensors dtypes @ssl writes and reads: float weights, int32 state (checkpoints) and PyTorch's int64
 * batch counters (exported state dicts).
 */
export type SafetensorsDtype = 'F32' | 'I32' | 'I64';

type SafetensorsValues = Float32Array | Int32Array | BigInt64Array;

/** One tensor of a safetensors file, its values in row-major order. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  /** [] for a scalar (PyTorch's `num_batches_tracked`). */
  readonly shape: readonly number[];
  readonly values: SafetensorsValues;
}

const BYTES_PER_VALUE: Record<SafetensorsDtype, number> = { F32: 4, I32: 4, I64: 8 };
const ARRAY_OF: Record<SafetensorsDtype, new (length: number) => SafetensorsValues> = {
  F32: Float32Array,
  I32: Int32Array,
  I64: BigInt64Array,
};
/** Typed arrays are in the host's byte order: on little-endian hosts (nearly all) the bytes are copied as they are. */
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, size) => product * size, 1);
}

/**
 * The bytes of a safetensors file (https://huggingface.co/docs/safetensors): an unsigned 64-bit little-endian
 * header length, a UTF-8 JSON header `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__ }`
 * padded with spaces to a multiple of 8 bytes (so every tensor's data is 8-byte aligned for readers that map
 * the file), then each tensor's values, little-endian, contiguous in entry order, so the file is the same on
 * any host. Checkpoints (`encodeSafetensors`) and exported state dicts (`exportEncoder`) are both written here.
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
    if (!(entry.values instanceof ARRAY_OF[entry.dtype])) {
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
    writeValues(view, position, entry.values);
    position += entry.values.length * BYTES_PER_VALUE[entry.dtype];
  }
  return bytes;
}

/** Writes typed values at `position`, little-endian whatever the host's byte order. */
function writeValues(view: DataView, position: number, values: SafetensorsValues): void {
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(view.buffer, view.byteOffset + position, values.byteLength).set(
      new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    );
    return;
  }
  const size = values.BYTES_PER_ELEMENT;
  for (let i = 0; i < values.length; i++) {
    if (values instanceof Float32Array) view.setFloat32(position + i * size, values[i], true);
    else if (values instanceof Int32Array) view.setInt32(position + i * size, values[i], true);
    else view.setBigInt64(position + i * size, values[i], true);
  }
}

/** Reads `count` values of `dtype` at `position`, little-endian, into a new (aligned) typed array. */
function readValues(view: DataView, position: number, dtype: SafetensorsDtype, count: number): SafetensorsValues {
  const values = new ARRAY_OF[dtype](count);
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(values.buffer).set(new Uint8Array(view.buffer, view.byteOffset + position, values.byteLength));
    return values;
  }
  for (let i = 0; i < count; i++) {
    const at = position + i * BYTES_PER_VALUE[dtype];
    if (values instanceof Float32Array) values[i] = view.getFloat32(at, true);
    else if (values instanceof Int32Array) values[i] = view.getInt32(at, true);
    else values[i] = view.getBigInt64(at, true);
  }
  return values;
}

/** A tensor read back by `parseSafetensors`. */
export interface ParsedSafetensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  readonly values: SafetensorsValues;
}

/**
 * Reads a safetensors file of F32, I32 and I64 tensors (what `serializeSafetensors` writes), checking that the
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
    if (dtype !== 'F32' && dtype !== 'I32' && dtype !== 'I64') {
      return fail(`tensor ${name} has dtype ${String(dtype)}; only F32, I32 and I64 are read`);
    }
    if (!Array.isArray(shape) || !Array.isArray(offsets) || offsets.length !== 2)
      return fail(`tensor ${name} has no shape or data_offsets`);
    const [begin, end] = offsets;
    if (!(begin >= 0 && end <= dataLength && end - begin === elementCount(shape) * BYTES_PER_VALUE[dtype])) {
      fail(`tensor ${name}'s data_offsets [${begin}, ${end}] do not fit its shape [${shape.join(', ')}] inside ${dataLength} data bytes`);
    }
    ranges.push([begin, end]);
    const values = readValues(view, dataStart + begin, dtype, elementCount(shape));
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
