import { SslError } from '../errors';

/**
 * A reader for the parts of an OpenType colour-bitmap font (such as Noto Color Emoji) that turn a code-point
 * sequence into a PNG: the character map (`cmap`), the ligature substitutions (`GSUB` lookup type 4, also
 * behind extension lookups) that join sequences such as ZWJ families, flags and skin tones into one glyph,
 * and the colour bitmap tables (`CBLC` locates, `CBDT` holds the PNG of each glyph). Only what these tables
 * need is read; see the OpenType specification's chapters on cmap, GSUB, CBLC and CBDT.
 */
export interface ColorBitmapFont {
  /** The glyph of one code point, from the cmap's format-12 (or format-4) subtable. */
  glyphOf(codePoint: number): number | undefined;
  /** The single glyph a glyph sequence becomes through one ligature substitution (length 1: the glyph itself). */
  ligatureOf(glyphs: readonly number[]): number | undefined;
  /** The PNG bytes of a glyph at the largest bitmap strike, or undefined when it has no colour bitmap. */
  pngOf(glyph: number): Uint8Array | undefined;
  /** Pixels per em of the strike `pngOf` reads. */
  readonly ppem: number;
}

interface TableRecord {
  offset: number;
  length: number;
}

/** Parses a TrueType/OpenType font file holding CBLC/CBDT colour bitmaps. `fileName` is used in errors. */
export function parseColorBitmapFont(bytes: Uint8Array, fileName: string): ColorBitmapFont {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (what: string): never => {
    throw new SslError('data', `${fileName}: ${what}; it is not a colour-bitmap (CBDT/CBLC) font such as NotoColorEmoji.ttf.`, {
      details: { file: fileName },
    });
  };
  if (bytes.length < 12) fail('the file is too short for a font header');
  const tables = new Map<string, TableRecord>();
  const numTables = view.getUint16(4);
  for (let t = 0; t < numTables; t++) {
    const record = 12 + 16 * t;
    if (record + 16 > bytes.length) fail('the table directory is truncated');
    const tag = String.fromCharCode(bytes[record], bytes[record + 1], bytes[record + 2], bytes[record + 3]);
    tables.set(tag, { offset: view.getUint32(record + 8), length: view.getUint32(record + 12) });
  }
  for (const tag of ['cmap', 'CBLC', 'CBDT']) if (!tables.has(tag)) fail(`the font has no ${tag} table`);
  const characterMap = readCmap(view, tables.get('cmap')!.offset, fail);
  const ligatures = tables.has('GSUB') ? readLigatures(view, tables.get('GSUB')!.offset) : new Map<string, number>();
  const strike = readBitmapLocations(view, tables.get('CBLC')!.offset, fail);
  const cbdt = tables.get('CBDT')!.offset;
  return {
    ppem: strike.ppem,
    glyphOf: (codePoint) => characterMap.get(codePoint),
    ligatureOf: (glyphs) => (glyphs.length === 1 ? glyphs[0] : ligatures.get(glyphs.join(','))),
    pngOf(glyph) {
      const location = strike.locations.get(glyph);
      if (!location) return undefined;
      return readGlyphPng(bytes, view, cbdt + location.offset, location.imageFormat, fileName);
    },
  };
}

function readCmap(view: DataView, cmap: number, fail: (what: string) => never): Map<number, number> {
  const map = new Map<number, number>();
  const count = view.getUint16(cmap + 2);
  let format4: number | undefined;
  for (let e = 0; e < count; e++) {
    const subtable = cmap + view.getUint32(cmap + 4 + 8 * e + 4);
    const format = view.getUint16(subtable);
    if (format === 12) {
      const groups = view.getUint32(subtable + 12);
      for (let g = 0; g < groups; g++) {
        const at = subtable + 16 + 12 * g;
        const start = view.getUint32(at);
        const end = view.getUint32(at + 4);
        const glyph = view.getUint32(at + 8);
        for (let c = start; c <= end; c++) map.set(c, glyph + c - start);
      }
      return map;
    }
    if (format === 4) format4 = subtable;
  }
  if (format4 === undefined) return fail('its cmap has neither a format-12 nor a format-4 subtable');
  // Format 4 (BMP only): segments of end codes, start codes, deltas and range offsets.
  const segments = view.getUint16(format4 + 6) / 2;
  const ends = format4 + 14;
  const starts = ends + 2 * segments + 2;
  const deltas = starts + 2 * segments;
  const rangeOffsets = deltas + 2 * segments;
  for (let s = 0; s < segments; s++) {
    const start = view.getUint16(starts + 2 * s);
    const end = view.getUint16(ends + 2 * s);
    const delta = view.getInt16(deltas + 2 * s);
    const rangeOffset = view.getUint16(rangeOffsets + 2 * s);
    for (let c = start; c <= end && c !== 0xffff; c++) {
      let glyph: number;
      if (rangeOffset === 0) glyph = (c + delta) & 0xffff;
      else {
        const raw = view.getUint16(rangeOffsets + 2 * s + rangeOffset + 2 * (c - start));
        glyph = raw === 0 ? 0 : (raw + delta) & 0xffff;
      }
      if (glyph !== 0) map.set(c, glyph);
    }
  }
  return map;
}

function readCoverage(view: DataView, coverage: number): number[] {
  const format = view.getUint16(coverage);
  const glyphs: number[] = [];
  if (format === 1) {
    const count = view.getUint16(coverage + 2);
    for (let i = 0; i < count; i++) glyphs.push(view.getUint16(coverage + 4 + 2 * i));
  } else if (format === 2) {
    const ranges = view.getUint16(coverage + 2);
    for (let r = 0; r < ranges; r++) {
      const at = coverage + 4 + 6 * r;
      for (let g = view.getUint16(at); g <= view.getUint16(at + 2); g++) glyphs.push(g);
    }
  }
  return glyphs; // in coverage-index order
}

/** Every ligature of every GSUB lookup of type 4 (directly or through a type-7 extension), keyed by its glyph sequence. */
function readLigatures(view: DataView, gsub: number): Map<string, number> {
  const ligatures = new Map<string, number>();
  const lookupList = gsub + view.getUint16(gsub + 8);
  const lookups = view.getUint16(lookupList);
  for (let l = 0; l < lookups; l++) {
    const lookup = lookupList + view.getUint16(lookupList + 2 + 2 * l);
    const type = view.getUint16(lookup);
    const subtables = view.getUint16(lookup + 4);
    for (let s = 0; s < subtables; s++) {
      let subtable = lookup + view.getUint16(lookup + 6 + 2 * s);
      let subtableType = type;
      if (type === 7) {
        subtableType = view.getUint16(subtable + 2);
        subtable += view.getUint32(subtable + 4);
      }
      if (subtableType !== 4) continue;
      const firstGlyphs = readCoverage(view, subtable + view.getUint16(subtable + 2));
      const sets = view.getUint16(subtable + 4);
      for (let k = 0; k < sets && k < firstGlyphs.length; k++) {
        const set = subtable + view.getUint16(subtable + 6 + 2 * k);
        const count = view.getUint16(set);
        for (let i = 0; i < count; i++) {
          const ligature = set + view.getUint16(set + 2 + 2 * i);
          const components = view.getUint16(ligature + 2);
          const sequence = [firstGlyphs[k]];
          for (let c = 1; c < components; c++) sequence.push(view.getUint16(ligature + 2 + 2 * c));
          const key = sequence.join(',');
          // The first lookup that applies wins, as in a shaper.
          if (!ligatures.has(key)) ligatures.set(key, view.getUint16(ligature));
        }
      }
    }
  }
  return ligatures;
}

interface GlyphLocation {
  /** Offset of the glyph's image record in CBDT. */
  offset: number;
  imageFormat: number;
}

/** The CBDT locations of the glyphs of the largest strike (by ppem) in CBLC. */
function readBitmapLocations(view: DataView, cblc: number, fail: (what: string) => never): { ppem: number; locations: Map<number, GlyphLocation> } {
  const sizes = view.getUint32(cblc + 4);
  if (sizes === 0) fail('its CBLC table has no bitmap strike');
  let best = 0;
  for (let s = 1; s < sizes; s++) if (view.getUint8(cblc + 8 + 48 * s + 45) > view.getUint8(cblc + 8 + 48 * best + 45)) best = s;
  const record = cblc + 8 + 48 * best;
  const arrayStart = cblc + view.getUint32(record);
  const subtableCount = view.getUint32(record + 8);
  const locations = new Map<number, GlyphLocation>();
  for (let t = 0; t < subtableCount; t++) {
    const entry = arrayStart + 8 * t;
    const first = view.getUint16(entry);
    const last = view.getUint16(entry + 2);
    const subtable = arrayStart + view.getUint32(entry + 4);
    const indexFormat = view.getUint16(subtable);
    const imageFormat = view.getUint16(subtable + 2);
    const imageData = view.getUint32(subtable + 4);
    const body = subtable + 8;
    if (indexFormat === 1 || indexFormat === 3) {
      // Offsets (32- or 16-bit) per glyph, one more than glyphs; equal neighbours mean "no bitmap".
      const width = indexFormat === 1 ? 4 : 2;
      const read = (i: number): number => (width === 4 ? view.getUint32(body + 4 * i) : view.getUint16(body + 2 * i));
      for (let g = first; g <= last; g++) {
        const start = read(g - first);
        if (read(g - first + 1) > start) locations.set(g, { offset: imageData + start, imageFormat });
      }
    } else if (indexFormat === 2) {
      const imageSize = view.getUint32(body);
      for (let g = first; g <= last; g++) locations.set(g, { offset: imageData + imageSize * (g - first), imageFormat });
    } else if (indexFormat === 4) {
      const glyphs = view.getUint32(body);
      for (let i = 0; i < glyphs; i++) {
        locations.set(view.getUint16(body + 4 + 4 * i), { offset: imageData + view.getUint16(body + 4 + 4 * i + 2), imageFormat });
      }
    } else if (indexFormat === 5) {
      const imageSize = view.getUint32(body);
      const glyphs = view.getUint32(body + 12);
      for (let i = 0; i < glyphs; i++) locations.set(view.getUint16(body + 16 + 2 * i), { offset: imageData + imageSize * i, imageFormat });
    }
  }
  return { ppem: view.getUint8(record + 45), locations };
}

/** CBDT image formats 17 (small metrics), 18 (big metrics) and 19 (metrics in CBLC): a length, then PNG bytes. */
function readGlyphPng(bytes: Uint8Array, view: DataView, at: number, imageFormat: number, fileName: string): Uint8Array {
  const metricsLength = imageFormat === 17 ? 5 : imageFormat === 18 ? 8 : imageFormat === 19 ? 0 : -1;
  if (metricsLength < 0) {
    throw new SslError('data', `${fileName}: CBDT image format ${imageFormat} is not a PNG format (17, 18 or 19); only colour PNG bitmaps are read.`, {
      details: { file: fileName, imageFormat },
    });
  }
  const length = view.getUint32(at + metricsLength);
  const start = at + metricsLength + 4;
  return bytes.subarray(start, start + length);
}
