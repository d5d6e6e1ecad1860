// The frame codec of docs/PROTOCOL.md (sections 3 and 4): a 22-byte header
// ("wbus", version, session id) and a body in postcard's layout. Decoding
// checks the form, the size and the message count before it reads the body.

/** Protocol versions a peer speaks, inclusive. */
export interface Versions {
  min: number;
  max: number;
}

/** A message inside a `Messages` body; `t` is its index on the wire. */
export type Message =
  | { t: 0; id: bigint; method: string; payload: Uint8Array; timeout?: number }
  | Reply
  | { t: 2; topic: string; payload: Uint8Array }
  | { t: 3; id: bigint }
  | { t: 4 }
  | { t: 5 }
  | { t: 6; reason: string }
  | { t: 7; count: number };

/** A reply: `outcome` 0 carries `ok`, 1 an error's `code`, `message` and `data`. */
export type Reply =
  | { t: 1; id: bigint; outcome: 0; ok: Uint8Array }
  | { t: 1; id: bigint; outcome: 1; code: number; message: string; data?: Uint8Array };

/** A frame's body; `t` is its index on the wire. `min`/`max` are a version range, `limit` a frame limit. */
export type Body =
  | ({ t: 0 } & Versions)
  | ({ t: 1; nonce: Uint8Array; limit: number } & Versions)
  | { t: 2; nonce: Uint8Array; version: number; limit: number }
  | ({ t: 3; refusal: 0 } & Versions)
  | { t: 4 }
  | { t: 5; messages: Message[] };

export interface Frame {
  version: number;
  session: Uint8Array;
  body: Body;
}

/** Why a byte string is not a frame we act on. */
export type DecodeError = "foreign" | "too-large" | "too-many-messages" | "malformed";

export const HEADER = 22;
export const MAX_MESSAGES = 1024;
export const NO_SESSION: Uint8Array = new Uint8Array(16);
const NS = "wbus";

const utf8 = new TextEncoder();
const text = new TextDecoder("utf-8", { fatal: true });

// Each body and message is a list of `name:type` fields in wire order.
// Types: u u32, h u16, i u64 (a bigint), z i32 (zigzag), s string, b bytes,
// n 16-byte nonce, o optional u32, p optional bytes.
type Schema = string[][];
const schema = (fields: string): Schema => (fields ? fields.split(" ").map((f) => f.split(":")) : []);
const BODIES = ["min:h max:h", "min:h max:h nonce:n limit:u", "nonce:n version:h limit:u", "refusal:u min:h max:h", ""].map(schema);
const MESSAGES = ["id:i method:s payload:b timeout:o", "id:i outcome:u", "topic:s payload:b", "id:i", "", "", "reason:s", "count:u"].map(
  schema,
);
const OUTCOMES = ["ok:b", "code:z message:s data:p"].map(schema);

type Fields = Record<string, unknown>;

class Writer {
  b = new Uint8Array(64);
  n = 0;

  room(k: number): void {
    if (this.n + k > this.b.length) {
      const b = new Uint8Array((this.n + k) * 2);
      b.set(this.b);
      this.b = b;
    }
  }

  u8(v: number): void {
    this.room(1);
    this.b[this.n++] = v;
  }

  /** An unsigned varint; `v` is a number below 2^53 or a bigint. */
  uv(v: number | bigint): void {
    let x = BigInt(v);
    for (; x > 127n; x >>= 7n) this.u8(Number(x & 127n) | 128);
    this.u8(Number(x));
  }

  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.b.set(bytes, this.n);
    this.n += bytes.length;
  }

  fields(s: Schema, f: Fields): void {
    for (const [name, type] of s) {
      let v = f[name] as never;
      if (type == "o" || type == "p") {
        this.u8(v === undefined ? 0 : 1);
        if (v === undefined) continue;
      }
      if (type == "z") v = (((v << 1) ^ (v >> 31)) >>> 0) as never;
      if (type == "s") v = utf8.encode(v) as never;
      if (type == "s" || type == "b" || type == "p") this.uv((v as Uint8Array).length);
      if (type == "s" || type == "b" || type == "p" || type == "n") this.raw(v);
      else this.uv(v);
    }
  }

  done(): Uint8Array {
    return this.b.slice(0, this.n);
  }
}

class Reader {
  constructor(
    readonly b: Uint8Array,
    public i: number,
  ) {}

  u8(): number {
    if (this.i >= this.b.length) throw 0;
    return this.b[this.i++];
  }

  /** An unsigned varint of at most `bits` bits, as postcard writes it. */
  big(bits: number): bigint {
    let r = 0n;
    for (let s = 0; s < bits; s += 7) {
      const b = this.u8();
      r |= BigInt(b & 127) << BigInt(s);
      if (b < 128) {
        if (r >> BigInt(bits)) break;
        return r;
      }
    }
    throw 0;
  }

  uv(bits = 32): number {
    return Number(this.big(bits));
  }

  raw(n: number): Uint8Array {
    if (n > this.b.length - this.i) throw 0;
    return this.b.slice(this.i, (this.i += n));
  }

  fields(s: Schema, f: Fields): Fields {
    for (const [name, type] of s) {
      if (type == "o" || type == "p") {
        const some = this.u8();
        if (some > 1) throw 0;
        if (!some) continue;
      }
      f[name] =
        type == "h"
          ? this.uv(16)
          : type == "i"
            ? this.big(64)
            : type == "z"
              ? ((z) => (z >>> 1) ^ -(z & 1))(this.uv())
              : type == "n"
                ? this.raw(16)
                : type == "s"
                  ? text.decode(this.raw(this.uv()))
                  : type == "b" || type == "p"
                    ? this.raw(this.uv())
                    : this.uv();
    }
    return f;
  }
}

function header(w: Writer, version: number, session: Uint8Array, t: number): void {
  w.raw(utf8.encode(NS));
  w.u8(version & 255);
  w.u8(version >> 8);
  w.raw(session);
  w.u8(t);
}

/** Encodes one message alone (to measure it, or to pack it into a frame). */
export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer();
  w.u8(m.t);
  w.fields(MESSAGES[m.t], m);
  if (m.t == 1) w.fields(OUTCOMES[m.outcome], m);
  return w.done();
}

/** A `Messages` frame from messages already encoded with `encodeMessage`. */
export function encodePacked(version: number, session: Uint8Array, parts: Uint8Array[]): Uint8Array {
  const w = new Writer();
  header(w, version, session, 5);
  w.uv(parts.length);
  for (const p of parts) w.raw(p);
  return w.done();
}

/** Encodes a frame. */
export function encode(f: Frame): Uint8Array {
  const b = f.body;
  if (b.t == 5) return encodePacked(f.version, f.session, b.messages.map(encodeMessage));
  const w = new Writer();
  header(w, f.version, f.session, b.t);
  w.fields(BODIES[b.t], b as Fields);
  return w.done();
}

/** Whether `bytes` starts like one of our frames (else it is foreign). */
export function isFrame(bytes: Uint8Array): boolean {
  return bytes.length >= HEADER && String.fromCharCode(...bytes.subarray(0, 4)) == NS;
}

/**
 * Decodes a frame, checking in the protocol's order: the form (else
 * `foreign`), the length against `max` (`too-large`) and the message count
 * (`too-many-messages`) before anything past the header is read.
 */
export function decode(bytes: Uint8Array, max: number): Frame | DecodeError {
  if (!isFrame(bytes)) return "foreign";
  if (bytes.length > max) return "too-large";
  const r = new Reader(bytes, HEADER);
  try {
    const t = r.uv();
    let body: Fields = { t };
    if (t == 5) {
      const n = r.uv();
      if (n > MAX_MESSAGES) return "too-many-messages";
      const messages: Fields[] = [];
      while (n > messages.length) {
        const t = r.uv();
        const m = r.fields(MESSAGES[t], { t });
        messages.push(m.t == 1 ? r.fields(OUTCOMES[m.outcome as number], m) : m);
      }
      body.messages = messages;
    } else body = r.fields(BODIES[t], body);
    if (body.refusal) throw 0;
    return { version: bytes[4] | (bytes[5] << 8), session: bytes.slice(6, HEADER), body: body as Body };
  } catch {
    return "malformed";
  }
}
