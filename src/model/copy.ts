import type { BinaryForm, TablePlan } from './plan.ts';
import { copyField, type NormRow, type RawEntry, rawJson, rowsOfCopy, writeCopyLine } from './values.ts';

// Rows as COPY data, in PostgreSQL's text format or its binary one (TablePlan.copyBinary): the encoder the reader
// thread writes each page with, the parsing of a page back into row records, and the binary form's framing.
//
// The binary format (PostgreSQL's "COPY ... (FORMAT binary)"): a header, then per row a 16-bit field count and per
// field a 32-bit length (-1 for NULL) and its bytes, then a trailer. Each field is the binary input of its column's
// type. PostgreSQL takes it about a fifth faster than text: no line and field scanning, no de-escaping, no number
// parsing (bench/README.md). The staging table of the merge is all text and takes the text format: a row of a
// binary page that goes there is written as a COPY text line again (copyTextOf).

/** What starts a binary COPY: the signature, the flags and the header extension's length (both 0). */
export const BINARY_COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
/** What ends it: a field count of -1. */
export const BINARY_COPY_TRAILER = Buffer.from([0xff, 0xff]);

const TWO_32 = 2 ** 32;

/**
 * Rows as COPY data in one growing buffer, taken from `take` (the reader thread's buffers are not from Node's
 * shared pool, so that they can be handed to another thread without copying). Text lines, or binary rows when the
 * plan's mirror table takes them (`forms`: plan.copyBinary). The buffer is taken at about the expected size
 * (memory never written is never resident), and doubles when a row does not fit.
 */
export class CopyEncoder {
  private buf: Buffer;
  private at = 0;
  private readonly write = (s: string) => this.putText(s);

  constructor(
    private readonly take: (size: number) => Buffer,
    expectBytes: number,
    private readonly forms?: readonly BinaryForm[],
  ) {
    // The limit counts UTF-16 code units; escapes, lengths and the row's hashes add a little.
    this.buf = take(Math.min(Math.ceil(expectBytes * 1.1), 64 << 20) + 64 * 1024);
  }

  add(values: readonly (string | null)[], hash: string, raw: Record<string, RawEntry> | null, light: string | null) {
    if (!this.forms) {
      writeCopyLine(this.write, values, hash, raw, light);
      return;
    }
    const f = this.forms;
    const n = values.length;
    if (f.length !== n + 3) throw new Error(`internal: ${f.length} binary forms for a row of ${n + 3} fields`);
    this.reserve(2);
    this.buf.writeInt16BE(n + 3, this.at);
    this.at += 2;
    for (let i = 0; i < n; i++) this.field(values[i]!, f[i]!);
    this.field(hash, f[n]!);
    this.field(rawJson(raw), f[n + 1]!);
    this.field(light, f[n + 2]!);
  }

  /** The data written so far. */
  result(): Buffer {
    return this.buf.subarray(0, this.at);
  }

  private reserve(bytes: number): void {
    if (this.buf.length - this.at >= bytes) return;
    let size = this.buf.length * 2;
    while (size - this.at < bytes) size *= 2;
    const next = this.take(size);
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  private putText(s: string): void {
    this.reserve(s.length * 3); // at most 3 bytes of UTF-8 for each UTF-16 code unit
    this.at += this.buf.write(s, this.at);
  }

  /** One binary field: its length, then its canonical text as the binary input of its form. */
  private field(v: string | null, form: BinaryForm): void {
    if (v === null) {
      this.reserve(4);
      this.buf.writeInt32BE(-1, this.at);
      this.at += 4;
      return;
    }
    switch (form) {
      case 'text':
      case 'jsonb': {
        const version = form === 'jsonb' ? 1 : 0;
        this.reserve(4 + version + v.length * 3);
        const at = this.at;
        if (version) this.buf[at + 4] = 1;
        const n = this.buf.write(v, at + 4 + version);
        this.buf.writeInt32BE(n + version, at);
        this.at = at + 4 + version + n;
        return;
      }
      case 'int8': {
        this.reserve(12);
        const at = this.at;
        this.buf.writeInt32BE(8, at);
        const n = Number(v);
        if (Number.isSafeInteger(n)) {
          const hi = Math.floor(n / TWO_32);
          this.buf.writeInt32BE(hi, at + 4);
          this.buf.writeUInt32BE(n - hi * TWO_32, at + 8);
        } else this.buf.writeBigInt64BE(BigInt(v), at + 4);
        this.at = at + 12;
        return;
      }
      case 'bool':
        this.reserve(5);
        this.buf.writeInt32BE(1, this.at);
        this.buf[this.at + 4] = v === 'true' ? 1 : 0;
        this.at += 5;
        return;
      case 'float8':
        this.reserve(12);
        this.buf.writeInt32BE(8, this.at);
        this.buf.writeDoubleBE(Number(v), this.at + 4);
        this.at += 12;
        return;
      case 'bytea': {
        // Canonical bytea text is \x and hex digits (normaliseValue).
        const hex = v.length - 2;
        this.reserve(4 + hex / 2);
        this.buf.writeInt32BE(hex / 2, this.at);
        this.at += 4 + this.buf.write(v.slice(2), this.at + 4, 'hex');
        return;
      }
    }
  }
}

/** A binary field's canonical text (what normaliseValue gave the encoder), or null for NULL. */
function fieldText(buf: Buffer, at: number, len: number, form: BinaryForm): string | null {
  if (len < 0) return null;
  switch (form) {
    case 'text':
      return buf.toString('utf8', at, at + len);
    case 'jsonb':
      return buf.toString('utf8', at + 1, at + len);
    case 'int8':
      return buf.readBigInt64BE(at).toString();
    case 'bool':
      return buf[at] ? 'true' : 'false';
    case 'float8':
      return String(buf.readDoubleBE(at));
    case 'bytea':
      return `\\x${buf.toString('hex', at, at + len)}`;
  }
}

/** The fields of the binary row at `start`: where each one's bytes start and how long they are (-1: NULL). */
function binaryFields(buf: Buffer, start: number): { at: number[]; len: number[]; end: number } {
  const n = buf.readInt16BE(start);
  const at: number[] = new Array(n);
  const len: number[] = new Array(n);
  let p = start + 2;
  for (let i = 0; i < n; i++) {
    const l = buf.readInt32BE(p);
    at[i] = p + 4;
    len[i] = l;
    p += 4 + Math.max(l, 0);
  }
  return { at, len, end: p };
}

/**
 * The rows of a page's COPY data (CopyEncoder's), as records without their values: key, hashes, raw side channel,
 * and each row's place in the buffer. Of a binary row only the key fields and the last three are decoded.
 */
export function rowsOfPage(plan: TablePlan, buf: Buffer): NormRow[] {
  const forms = plan.copyBinary;
  if (!forms) return rowsOfCopy(plan, buf);
  const keyIdx = plan.key.map((k) => plan.columns.findIndex((c) => c.name === k));
  const n = plan.columns.length;
  const rows: NormRow[] = [];
  for (let start = 0; start < buf.length; ) {
    const f = binaryFields(buf, start);
    if (f.at.length !== n + 3 || f.end > buf.length)
      throw new Error(`internal: binary COPY data of "${plan.name}" is not a row of ${n + 3} fields`);
    const text = (i: number) => fieldText(buf, f.at[i]!, f.len[i]!, forms[i]!);
    const raw = text(n + 1);
    rows.push({
      key: keyIdx.map((i) => text(i) ?? ''),
      copy: { buf, start, end: f.end },
      raw: raw === null ? null : (JSON.parse(raw) as Record<string, RawEntry>),
      hash: text(n) ?? '',
      light: text(n + 2),
      bytes: f.end - start,
    });
    start = f.end;
  }
  return rows;
}

/** A binary row of a page (rowsOfPage's `copy`) as its line of COPY text: the staging table takes text. */
export function copyTextOf(forms: readonly BinaryForm[], buf: Buffer, start: number): string {
  const f = binaryFields(buf, start);
  let line = '';
  for (let i = 0; i < f.at.length; i++) {
    line += copyField(fieldText(buf, f.at[i]!, f.len[i]!, forms[i]!));
    line += i === f.at.length - 1 ? '\n' : '\t';
  }
  return line;
}
