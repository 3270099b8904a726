/**
 * Just enough of the tar format (POSIX ustar, plus the pax `path` record and GNU long names when reading) for
 * WebDataset shards: a list of the regular files of an archive with their byte offsets, read from the headers
 * alone (the data is seeked over), and a writer of plain ustar archives.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { SslError } from '../../errors';

const BLOCK = 512;

/** One regular file of an archive: its path and where its bytes lie. */
export interface TarMember {
  readonly name: string;
  /** Byte offset of the member's data in the archive. */
  readonly offset: number;
  readonly size: number;
}

function readString(block: Uint8Array, start: number, length: number): string {
  let end = start;
  while (end < start + length && block[end] !== 0) end++;
  return Buffer.from(block.buffer, block.byteOffset + start, end - start).toString('utf8');
}

function readOctal(block: Uint8Array, start: number, length: number): number {
  if (block[start] & 0x80) {
    // GNU base-256 for sizes of 8 GiB and more: big-endian in the remaining bytes.
    let value = 0;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + block[i];
    return value;
  }
  const text = readString(block, start, length).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  return sum === readOctal(block, 148, 8);
}

/** The `path` record of a pax extended header, if any. */
function paxPath(data: Uint8Array): string | undefined {
  const text = Buffer.from(data).toString('utf8');
  let position = 0;
  while (position < text.length) {
    const space = text.indexOf(' ', position);
    const length = parseInt(text.slice(position, space), 10);
    if (!(length > 0)) break;
    const record = text.slice(space + 1, position + length - 1);
    const equals = record.indexOf('=');
    if (record.slice(0, equals) === 'path') return record.slice(equals + 1);
    position += length;
  }
  return undefined;
}

/**
 * Lists the regular files of the tar archive at `path` by reading its headers (one 512-byte read per member).
 * A damaged header is an SslError('data') naming the archive and the offset.
 */
export function listTarMembers(path: string): TarMember[] {
  const fd = openArchive(path, 'r');
  const members: TarMember[] = [];
  const block = new Uint8Array(BLOCK);
  let offset = 0;
  let longName: string | undefined;
  try {
    for (;;) {
      const read = readSync(fd, block, 0, BLOCK, offset);
      if (read === 0) break;
      if (read < BLOCK) throw damaged(path, offset, 'truncated header');
      if (block.every((b) => b === 0)) break;
      if (!checksumOk(block)) throw damaged(path, offset, 'header checksum mismatch');
      const size = readOctal(block, 124, 12);
      const type = String.fromCharCode(block[156] || 0x30);
      const dataOffset = offset + BLOCK;
      if (type === 'x' || type === 'L') {
        const data = new Uint8Array(size);
        if (readSync(fd, data, 0, size, dataOffset) < size) throw damaged(path, offset, 'truncated extended header');
        longName = type === 'x' ? paxPath(data) : readString(data, 0, size);
      } else if (type === '0' || type === '7') {
        const prefix = readString(block, 345, 155);
        const name = longName ?? (prefix ? `${prefix}/${readString(block, 0, 100)}` : readString(block, 0, 100));
        members.push({ name, offset: dataOffset, size });
        longName = undefined;
      } else {
        longName = undefined; // directories, links, global pax headers: nothing to index
      }
      offset = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
    }
  } finally {
    closeSync(fd);
  }
  return members;
}

function damaged(path: string, offset: number, what: string): SslError {
  return new SslError('data', `${path}: not a readable tar archive (${what} at byte ${offset}); re-create the shard or remove it.`, {
    details: { file: path, offset },
  });
}

function openArchive(path: string, flags: 'r' | 'w'): number {
  try {
    return openSync(path, flags);
  } catch (cause) {
    throw new SslError('data', `${path}: cannot open the archive (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}).`, {
      cause,
      details: { file: path },
    });
  }
}

/** Reads `size` bytes at `offset` of an open file. */
export function readRange(fd: number, offset: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let done = 0;
  while (done < size) {
    const read = readSync(fd, out, done, size - done, offset + done);
    if (read === 0) break;
    done += read;
  }
  return done === size ? out : out.subarray(0, done);
}

/** Writes a plain ustar archive member by member; close() writes the two zero blocks that end it. */
export class TarWriter {
  private readonly fd: number;
  /** Bytes written so far. */
  bytes = 0;

  constructor(readonly path: string) {
    this.fd = openArchive(path, 'w');
  }

  add(name: string, data: Uint8Array): void {
    const nameBytes = Buffer.from(name, 'utf8');
    if (nameBytes.length > 100) throw new SslError('data', `${this.path}: member name "${name}" is longer than the 100 bytes ustar allows; use shorter keys.`);
    const header = new Uint8Array(BLOCK);
    header.set(nameBytes, 0);
    const octal = (value: number, start: number, length: number) => header.set(Buffer.from(`${value.toString(8).padStart(length - 1, '0')}\0`), start);
    octal(0o644, 100, 8);
    octal(0, 108, 8);
    octal(0, 116, 8);
    octal(data.length, 124, 12);
    octal(0, 136, 12); // mtime 0: the same inputs give byte-identical shards
    header[156] = 0x30;
    header.set(Buffer.from('ustar\0' + '00'), 257);
    header.fill(32, 148, 156);
    let sum = 0;
    for (const b of header) sum += b;
    header.set(Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
    this.write(header);
    this.write(data);
    const padding = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (padding > 0) this.write(new Uint8Array(padding));
  }

  close(): void {
    this.write(new Uint8Array(2 * BLOCK));
    closeSync(this.fd);
  }

  private write(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
    this.bytes += bytes.length;
  }
}
