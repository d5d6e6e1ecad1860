// The frame codec of docs/PROTOCOL.md (sections 3 and 4): a 22-byte header
// ("wbus", version, session id) and a body in postcard's layout. Decoding
// checks the form, the size and the message count before it reads the body.
//
// Bodies and messages are tuples whose first element is their index on the
// wire and whose other elements are their fields in wire order: the codec is
// one loop over a type string per kind, and the bundle carries no field names.

/** Protocol versions a peer speaks, inclusive. */
export interface Versions {
  min: number;
  max: number;
}

/** A message inside a `Messages` body. */
export type Message =
  | [t: 0, id: bigint, method: string, payload: Uint8Array, timeout?: number]
  | Reply
  | [t: 2, topic: string, payload: Uint8Array]
  | [t: 3, id: bigint]
  | [t: 4]
  | [t: 5]
  | [t: 6, reason: string]
  | [t: 7, count: number];

/** A reply: outcome 0 carries the answer's bytes, 1 an error's code, message and data. */
export type Reply =
  | [t: 1, id: bigint, outcome: 0, ok: Uint8Array]
  | [t: 1, id: bigint, outcome: 1, code: number, message: string, data?: Uint8Array];

/** A frame's body: knock, hello, welcome, refuse, ready, messages. `limit` is a frame limit. */
export type Body =
  | [t: 0, min: number, max: number]
  | [t: 1, min: number, max: number, nonce: Uint8Array, limit: number]
  | [t: 2, nonce: Uint8Array, version: number, limit: number]
  | [t: 3, refusal: 0, min: number, max: number]
  | [t: 4]
  | [t: 5, messages: Message[]];

/** A frame: its header's version and session id, and its body. */
export type Frame = [version: number, session: Uint8Array, body: Body];

/** Why a byte string is not a frame we act on. */
export type DecodeError = "foreign" | "too-large" | "too-many-messages" | "malformed";

export const HEADER = 22;
export const MAX_MESSAGES = 1024;
export const NO_SESSION: Uint8Array = new Uint8Array(16);
const NS = "wbus";

const utf8 = new TextEncoder();
const text = new TextDecoder("utf-8", { fatal: true });

// Each kind's fields in wire order, one letter per field: u u32, h u16,
// i u64 (a bigint), z i32 (zigzag), s string, b bytes, n 16-byte nonce,
// o optional u32, p optional bytes (optional fields come last), r a reply's
// outcome (a u32 whose value picks the fields that follow it). A `Messages`
// body's count and messages are read apart, after the count is checked.
const BODIES = ["hh", "hhnu", "nhu", "uhh", "", ""];
const MESSAGES = ["isbo", "ir", "sb", "i", "", "", "s", "u"];
const OUTCOMES = ["b", "zsp"];

/** Writes postcard bytes into a growing buffer. */
function writer() {
  let b = new Uint8Array(64);
  let n = 0;
  const room = (k: number): void => {
    if (n + k > b.length) {
      const c = new Uint8Array((n + k) * 2);
      c.set(b);
      b = c;
    }
  };
  const u8 = (v: number): void => {
    room(1);
    b[n++] = v;
  };
  /** An unsigned varint; `v` is a number below 2^53 or a bigint. */
  const uv = (v: number | bigint): void => {
    let x = BigInt(v);
    for (; x > 127n; x >>= 7n) u8(Number(x & 127n) | 128);
    u8(Number(x));
  };
  const raw = (bytes: Uint8Array): void => {
    room(bytes.length);
    b.set(bytes, n);
    n += bytes.length;
  };
  return {
    _u8: u8,
    _uv: uv,
    _raw: raw,
    /** Writes a message or body: its kind from `table`'s index, then its fields. */
    _write(table: string[], m: unknown[]): void {
      uv(m[0] as number);
      for (let k = 0, types = table[m[0] as number]; k < types.length; k++) {
        const type = types[k];
        let v = m[k + 1] as never;
        if (type == "o" || type == "p") {
          u8(v === undefined ? 0 : 1);
          if (v === undefined) continue;
        }
        if (type == "r") types += OUTCOMES[v];
        if (type == "z") v = (((v << 1) ^ (v >> 31)) >>> 0) as never;
        if (type == "s") v = utf8.encode(v) as never;
        if (type == "n") raw(v);
        else if (type == "s" || type == "b" || type == "p") uv((v as Uint8Array).length), raw(v);
        else uv(v);
      }
    },
    _done: (): Uint8Array => b.slice(0, n),
  };
}

/** Reads postcard from `b` at `i`; throws on anything out of form. */
function reader(b: Uint8Array, i: number) {
  const u8 = (): number => {
    if (i >= b.length) throw 0;
    return b[i++];
  };
  /** An unsigned varint of at most `bits` bits, as postcard writes it. */
  const big = (bits: number): bigint => {
    let r = 0n;
    for (let s = 0; s < bits; s += 7) {
      const x = u8();
      r |= BigInt(x & 127) << BigInt(s);
      if (x < 128) {
        if (r >> BigInt(bits)) break;
        return r;
      }
    }
    throw 0;
  };
  const uv = (bits = 32): number => Number(big(bits));
  const raw = (n: number): Uint8Array => {
    if (n > b.length - i) throw 0;
    return b.slice(i, (i += n));
  };
  return {
    _uv: uv,
    /** Reads a message or body into a tuple that starts with its kind. */
    _read(table: string[]): unknown[] {
      const m: unknown[] = [uv()];
      for (let k = 0, types = table[m[0] as number]; k < types.length; k++) {
        const type = types[k];
        if (type == "o" || type == "p") {
          const some = u8();
          if (some > 1) throw 0;
          // An absent optional field is left out.
          if (!some) continue;
        }
        const v =
          type == "h"
            ? uv(16)
            : type == "i"
              ? big(64)
              : type == "z"
                ? ((z) => (z >>> 1) ^ -(z & 1))(uv())
                : type == "n"
                  ? raw(16)
                  : type == "s"
                    ? text.decode(raw(uv()))
                    : type == "b" || type == "p"
                      ? raw(uv())
                      : uv();
        if (type == "r") {
          const more = OUTCOMES[v as number];
          if (more == null) throw 0;
          types += more;
        }
        m.push(v);
      }
      return m;
    },
  };
}

function header(version: number, session: Uint8Array) {
  const w = writer();
  w._raw(utf8.encode(NS));
  w._u8(version & 255);
  w._u8(version >> 8);
  w._raw(session);
  return w;
}

/** Encodes one message alone (to measure it, or to pack it into a frame). */
export function encodeMessage(m: Message): Uint8Array {
  const w = writer();
  w._write(MESSAGES, m);
  return w._done();
}

/** A `Messages` frame from messages already encoded with `encodeMessage`. */
export function encodePacked(version: number, session: Uint8Array, parts: Uint8Array[]): Uint8Array {
  const w = header(version, session);
  w._uv(5);
  w._uv(parts.length);
  for (const p of parts) w._raw(p);
  return w._done();
}

/** Encodes a frame. */
export function encode([version, session, body]: Frame): Uint8Array {
  if (body[0] == 5) return encodePacked(version, session, body[1].map(encodeMessage));
  const w = header(version, session);
  w._write(BODIES, body);
  return w._done();
}

/** Whether `bytes` starts like one of our frames (else it is foreign). */
export const isFrame = (bytes: Uint8Array): boolean =>
  bytes.length >= HEADER && String.fromCharCode(...bytes.subarray(0, 4)) == NS;

/**
 * Decodes a frame, checking in the protocol's order: the form (else
 * `foreign`), the length against `max` (`too-large`) and the message count
 * (`too-many-messages`) before anything past the header is read.
 */
export function decode(bytes: Uint8Array, max: number): Frame | DecodeError {
  if (!isFrame(bytes)) return "foreign";
  if (bytes.length > max) return "too-large";
  const r = reader(bytes, HEADER);
  try {
    let body = r._read(BODIES);
    if (body[0] == 5) {
      const n = r._uv();
      if (n > MAX_MESSAGES) return "too-many-messages";
      const messages = [];
      while (n > messages.length) messages.push(r._read(MESSAGES));
      body = [5, messages];
    }
    // A refusal v1 does not define (a kind past the tables threw already).
    if (body[0] == 3 && body[1]) throw 0;
    return [bytes[4] | (bytes[5] << 8), bytes.slice(6, HEADER), body as Body];
  } catch {
    return "malformed";
  }
}
