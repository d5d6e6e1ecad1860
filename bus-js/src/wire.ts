// The frame codec of docs/PROTOCOL.md (sections 3 and 4): a 22-byte header
// ("wbus", version, session id) and a body in postcard's layout. Decoding
// checks the form, the size and the message count before it reads the body.

/** Protocol versions a peer speaks, inclusive. */
export interface Versions {
  min: number;
  max: number;
}

/** A remote error: a code (bus codes are -32768..-32000), a message, optional postcard data. */
export interface ErrorBody {
  code: number;
  message: string;
  data?: Uint8Array;
}

/** A message inside a `Messages` body; `t` is its index on the wire. */
export type Message =
  | { t: 0; id: bigint; method: string; payload: Uint8Array; timeout?: number }
  | { t: 1; id: bigint; ok?: Uint8Array; err?: ErrorBody }
  | { t: 2; topic: string; payload: Uint8Array }
  | { t: 3; id: bigint }
  | { t: 4 }
  | { t: 5 }
  | { t: 6; reason: string }
  | { t: 7; count: number };

/** A frame's body; `t` is its index on the wire. */
export type Body =
  | { t: 0; versions: Versions }
  | { t: 1; versions: Versions; nonce: Uint8Array; max: number }
  | { t: 2; nonce: Uint8Array; version: number; max: number }
  | { t: 3; supported: Versions }
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
export const NO_SESSION = new Uint8Array(16);
const NS = "wbus";

const utf8 = new TextEncoder();
const text = new TextDecoder("utf-8", { fatal: true });

class Writer {
  b = new Uint8Array(64);
  n = 0;

  room(k: number): void {
    if (this.n + k > this.b.length) {
      const b = new Uint8Array(Math.max(this.b.length * 2, this.n + k));
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
    while (x > 127n) {
      this.u8(Number(x & 127n) | 128);
      x >>= 7n;
    }
    this.u8(Number(x));
  }

  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.b.set(bytes, this.n);
    this.n += bytes.length;
  }

  bytes(bytes: Uint8Array): void {
    this.uv(bytes.length);
    this.raw(bytes);
  }

  str(s: string): void {
    this.bytes(utf8.encode(s));
  }

  versions(v: Versions): void {
    this.uv(v.min);
    this.uv(v.max);
  }

  done(): Uint8Array {
    return this.b.subarray(0, this.n);
  }
}

class Reader {
  constructor(
    readonly b: Uint8Array,
    public i: number,
  ) {}

  u8(): number {
    if (this.i >= this.b.length) throw "malformed";
    return this.b[this.i++];
  }

  /** An unsigned varint of at most `bits` bits, as postcard writes it. */
  big(bits: number): bigint {
    let r = 0n;
    for (let s = 0; s < bits; s += 7) {
      const b = this.u8();
      r |= BigInt(b & 127) << BigInt(s);
      if (b < 128) {
        if (r >> BigInt(bits)) throw "malformed";
        return r;
      }
    }
    throw "malformed";
  }

  uv(bits = 32): number {
    return Number(this.big(bits));
  }

  raw(n: number): Uint8Array {
    if (n > this.b.length - this.i) throw "malformed";
    return this.b.slice(this.i, (this.i += n));
  }

  bytes(): Uint8Array {
    return this.raw(this.uv());
  }

  str(): string {
    try {
      return text.decode(this.bytes());
    } catch {
      throw "malformed";
    }
  }

  opt(): boolean {
    const o = this.u8();
    if (o > 1) throw "malformed";
    return o == 1;
  }

  versions(): Versions {
    return { min: this.uv(16), max: this.uv(16) };
  }
}

function writeMessage(w: Writer, m: Message): void {
  w.u8(m.t);
  switch (m.t) {
    case 0:
      w.uv(m.id);
      w.str(m.method);
      w.bytes(m.payload);
      if (m.timeout === undefined) w.u8(0);
      else {
        w.u8(1);
        w.uv(m.timeout);
      }
      break;
    case 1:
      w.uv(m.id);
      if (m.err) {
        const e = m.err;
        w.u8(1);
        w.uv(((e.code << 1) ^ (e.code >> 31)) >>> 0);
        w.str(e.message);
        if (e.data) {
          w.u8(1);
          w.bytes(e.data);
        } else w.u8(0);
      } else {
        w.u8(0);
        w.bytes(m.ok!);
      }
      break;
    case 2:
      w.str(m.topic);
      w.bytes(m.payload);
      break;
    case 3:
      w.uv(m.id);
      break;
    case 6:
      w.str(m.reason);
      break;
    case 7:
      w.uv(m.count);
  }
}

function readMessage(r: Reader): Message {
  const t = r.uv();
  switch (t) {
    case 0: {
      const id = r.big(64);
      const method = r.str();
      const payload = r.bytes();
      return r.opt()
        ? { t, id, method, payload, timeout: r.uv() }
        : { t, id, method, payload };
    }
    case 1: {
      const id = r.big(64);
      const o = r.uv();
      if (o == 0) return { t, id, ok: r.bytes() };
      if (o > 1) throw "malformed";
      const z = r.uv();
      const code = (z >>> 1) ^ -(z & 1);
      const message = r.str();
      return r.opt()
        ? { t, id, err: { code, message, data: r.bytes() } }
        : { t, id, err: { code, message } };
    }
    case 2:
      return { t, topic: r.str(), payload: r.bytes() };
    case 3:
      return { t, id: r.big(64) };
    case 4:
    case 5:
      return { t };
    case 6:
      return { t, reason: r.str() };
    case 7:
      return { t, count: r.uv() };
  }
  throw "malformed";
}

/** Encodes one message alone (to measure it, or to pack it into a frame). */
export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer();
  writeMessage(w, m);
  return w.done();
}

function header(w: Writer, version: number, session: Uint8Array): void {
  w.raw(utf8.encode(NS));
  w.u8(version & 255);
  w.u8(version >> 8);
  w.raw(session);
}

/** A `Messages` frame from messages already encoded with `encodeMessage`. */
export function encodePacked(version: number, session: Uint8Array, parts: Uint8Array[]): Uint8Array {
  const w = new Writer();
  header(w, version, session);
  w.u8(5);
  w.uv(parts.length);
  for (const p of parts) w.raw(p);
  return w.done();
}

/** Encodes a frame. */
export function encode(f: Frame): Uint8Array {
  const w = new Writer();
  header(w, f.version, f.session);
  const b = f.body;
  w.u8(b.t);
  switch (b.t) {
    case 0:
      w.versions(b.versions);
      break;
    case 1:
      w.versions(b.versions);
      w.raw(b.nonce);
      w.uv(b.max);
      break;
    case 2:
      w.raw(b.nonce);
      w.uv(b.version);
      w.uv(b.max);
      break;
    case 3:
      w.u8(0);
      w.versions(b.supported);
      break;
    case 5:
      w.uv(b.messages.length);
      for (const m of b.messages) writeMessage(w, m);
  }
  return w.done();
}

/** Whether `bytes` starts like one of our frames (else it is foreign). */
export function isFrame(bytes: Uint8Array): boolean {
  return bytes.length >= HEADER && bytes[0] == 119 && bytes[1] == 98 && bytes[2] == 117 && bytes[3] == 115;
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
    if (t == 5) {
      const n = r.uv();
      if (n > MAX_MESSAGES) return "too-many-messages";
      const messages: Message[] = [];
      for (let k = 0; k < n; k++) messages.push(readMessage(r));
      return frame(bytes, { t, messages });
    }
    switch (t) {
      case 0:
        return frame(bytes, { t, versions: r.versions() });
      case 1:
        return frame(bytes, { t, versions: r.versions(), nonce: r.raw(16), max: r.uv() });
      case 2:
        return frame(bytes, { t, nonce: r.raw(16), version: r.uv(16), max: r.uv() });
      case 3:
        if (r.uv() != 0) return "malformed";
        return frame(bytes, { t, supported: r.versions() });
      case 4:
        return frame(bytes, { t });
    }
    return "malformed";
  } catch {
    return "malformed";
  }
}

function frame(bytes: Uint8Array, body: Body): Frame {
  return { version: bytes[4] | (bytes[5] << 8), session: bytes.slice(6, HEADER), body };
}
