// ---- postcard, as the Rust side writes it (the same in every generated module) ----

const utf8 = new TextEncoder();
const text = new TextDecoder("utf-8", { fatal: true });

/** A value of a contract type and its postcard bytes, both ways. */
export interface Codec<T> {
  encode(value: T): Uint8Array;
  /** Throws a `RangeError` for bytes that are not a `T`. */
  decode(bytes: Uint8Array): T;
}

const bad = (what: string): never => {
  throw new RangeError(what);
};

const int = (v: number | bigint, bits: number, signed: boolean): bigint => {
  const x = typeof v == "bigint" ? v : Number.isInteger(v) ? BigInt(v) : bad(`${v} is not an integer`);
  const lo = signed ? -(1n << BigInt(bits - 1)) : 0n;
  const hi = (signed ? 1n << BigInt(bits - 1) : 1n << BigInt(bits)) - 1n;
  return x < lo || x > hi ? bad(`${v} does not fit in ${signed ? "i" : "u"}${bits}`) : x;
};

/** Writes postcard. */
export class Writer {
  private b = new Uint8Array(64);
  private n = 0;

  private room(k: number): void {
    if (this.n + k > this.b.length) {
      const b = new Uint8Array((this.n + k) * 2);
      b.set(this.b);
      this.b = b;
    }
  }

  byte(v: number): void {
    this.room(1);
    this.b[this.n++] = v;
  }

  bool(v: boolean): void {
    this.byte(v ? 1 : 0);
  }

  /** `()`: no bytes. */
  unit(_v: null | []): void {}

  private varint(x: bigint): void {
    for (; x > 127n; x >>= 7n) this.byte(Number(x & 127n) | 128);
    this.byte(Number(x));
  }

  /** An unsigned integer of `bits` bits (8 is one byte, wider ones a varint). */
  u(v: number | bigint, bits: number): void {
    const x = int(v, bits, false);
    if (bits == 8) this.byte(Number(x));
    else this.varint(x);
  }

  /** A signed integer of `bits` bits (8 is one byte, wider ones a zigzag varint). */
  i(v: number | bigint, bits: number): void {
    const x = int(v, bits, true);
    if (bits == 8) this.byte(Number(x) & 255);
    else this.varint(x < 0n ? (-x << 1n) - 1n : x << 1n);
  }

  f32(v: number): void {
    this.raw(new Uint8Array(new Float32Array([v]).buffer));
  }

  f64(v: number): void {
    this.raw(new Uint8Array(new Float64Array([v]).buffer));
  }

  private raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.b.set(bytes, this.n);
    this.n += bytes.length;
  }

  bytes(v: Uint8Array): void {
    this.varint(BigInt(v.length));
    this.raw(v);
  }

  str(v: string): void {
    this.bytes(utf8.encode(v));
  }

  char(v: string): void {
    if ([...v].length != 1) bad(`${JSON.stringify(v)} is not one character`);
    this.str(v);
  }

  seq<T>(v: readonly T[], item: (w: Writer, x: T) => void, size?: number): void {
    if (size === undefined) this.varint(BigInt(v.length));
    else if (v.length != size) bad(`${v.length} items where ${size} are expected`);
    for (const x of v) item(this, x);
  }

  map<K, V>(v: ReadonlyMap<K, V>, key: (w: Writer, k: K) => void, value: (w: Writer, x: V) => void): void {
    this.varint(BigInt(v.size));
    for (const [k, x] of v) {
      key(this, k);
      value(this, x);
    }
  }

  opt<T>(v: T | null | undefined, some: (w: Writer, x: T) => void): void {
    this.byte(v == null ? 0 : 1);
    if (v != null) some(this, v);
  }

  done(): Uint8Array {
    return this.b.slice(0, this.n);
  }
}

/** Reads postcard; every read checks what is left, and lengths are bounded by it. */
export class Reader {
  private at = 0;

  constructor(private readonly b: Uint8Array) {}

  byte(): number {
    return this.at < this.b.length ? this.b[this.at++] : bad("the payload ends early");
  }

  /** `()`: no bytes. */
  unit(): null {
    return null;
  }

  bool(): boolean {
    const v = this.byte();
    return v > 1 ? bad(`${v} is not a bool`) : v == 1;
  }

  private varint(bits: number): bigint {
    let r = 0n;
    for (let s = 0n; s < BigInt(bits); s += 7n) {
      const b = this.byte();
      r |= BigInt(b & 127) << s;
      if (b < 128) return r >> BigInt(bits) ? bad(`a varint over ${bits} bits`) : r;
    }
    return bad(`a varint over ${bits} bits`);
  }

  /** An unsigned integer of at most 32 bits. */
  u(bits: number): number {
    return Number(this.ub(bits));
  }

  /** An unsigned integer of 64 or 128 bits. */
  ub(bits: number): bigint {
    return bits == 8 ? BigInt(this.byte()) : this.varint(bits);
  }

  /** A signed integer of at most 32 bits. */
  i(bits: number): number {
    return Number(this.ib(bits));
  }

  /** A signed integer of 64 or 128 bits. */
  ib(bits: number): bigint {
    if (bits == 8) return BigInt((this.byte() << 24) >> 24);
    const z = this.varint(bits);
    return z & 1n ? -(z >> 1n) - 1n : z >> 1n;
  }

  private raw(n: number): Uint8Array {
    return n > this.b.length - this.at ? bad("the payload ends early") : this.b.slice(this.at, (this.at += n));
  }

  f32(): number {
    return new Float32Array(this.raw(4).buffer)[0];
  }

  f64(): number {
    return new Float64Array(this.raw(8).buffer)[0];
  }

  /** A length: never more than the bytes left (every item takes one at least). */
  private len(): number {
    const n = this.u(32);
    return n > this.b.length - this.at ? bad("a length past the payload's end") : n;
  }

  bytes(): Uint8Array {
    return this.raw(this.len());
  }

  str(): string {
    try {
      return text.decode(this.bytes());
    } catch (e) {
      return e instanceof RangeError ? bad(e.message) : bad("a string that is not UTF-8");
    }
  }

  char(): string {
    const s = this.str();
    return [...s].length == 1 ? s : bad(`${JSON.stringify(s)} is not one character`);
  }

  seq<T>(item: (r: Reader) => T, size?: number): T[] {
    const out: T[] = [];
    for (let n = size ?? this.len(); n > 0; n--) out.push(item(this));
    return out;
  }

  map<K, V>(key: (r: Reader) => K, value: (r: Reader) => V): Map<K, V> {
    const out = new Map<K, V>();
    for (let n = this.len(); n > 0; n--) out.set(key(this), value(this));
    return out;
  }

  opt<T>(some: (r: Reader) => T): T | null {
    return this.bool() ? some(this) : null;
  }

  /** The index of an enum's variant. */
  variant(): number {
    return this.u(32);
  }
}

const codec = <T>(write: (w: Writer, v: T) => void, read: (r: Reader) => T): Codec<T> => ({
  encode(value) {
    const w = new Writer();
    write(w, value);
    return w.done();
  },
  decode: (bytes) => read(new Reader(bytes)),
});
