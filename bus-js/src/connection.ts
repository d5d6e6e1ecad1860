// One connection to one peer window: the handshake, the session on the
// private port, calls, events, heartbeat and close, as docs/PROTOCOL.md
// says. The window bindings (windows.ts) only say which window to talk to.

import { Allowlist } from "./origin.js";
import {
  type Body,
  type Message,
  type Versions,
  decode,
  encode,
  encodeMessage,
  encodePacked,
  isFrame,
  NO_SESSION,
} from "./wire.js";

/** Why a received frame was refused (docs/PROTOCOL.md section 12). */
export type Rejection =
  | "disallowed-origin"
  | "wrong-source"
  | "malformed"
  | "too-large"
  | "too-many-messages"
  | "wrong-session"
  | "wrong-version"
  | "unexpected"
  | "unknown-reply"
  | "duplicate-call"
  | "stale-handshake"
  | "bad-attachments";

/** Bus error codes (section 11); applications use any other code. */
export const METHOD_NOT_FOUND = -32601;
export const BAD_REQUEST = -32602;
export const INTERNAL = -32603;
export const OVERLOADED = -32001;

/** An error the peer's handler answered with. Throw one in a handler to answer with a code of your own. */
export class RemoteError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: Uint8Array,
  ) {
    super(message);
  }
}

/** Why a call failed on this side. */
export type Failure = "timeout" | "cancelled" | "disconnected" | "closed" | "too-large" | "queue-full";

/** A call or emit that failed on this side; `kind` says why. */
export class BusError extends Error {
  constructor(
    readonly kind: Failure,
    message: string,
  ) {
    super(message);
  }
}

export type State = "connecting" | "connected" | "reconnecting" | "closed";

/** Serves one method: gets the request's bytes, answers with the response's. */
export type Handler = (payload: Uint8Array, signal: AbortSignal) => Uint8Array | Promise<Uint8Array>;

export interface Options {
  /** Origins that may talk to this side: `scheme://host[:port]` or `scheme://*.domain[:port]`. */
  allow: Iterable<string> | Allowlist;
  /** Also allow the opaque origin `"null"` (sandboxed, `data:` frames); only then are posts sent to `"*"`. */
  allowOpaqueOrigins?: boolean;
  /** Protocol versions spoken; `{ min: 1, max: 1 }`. */
  versions?: Versions;
  /** Give up the first handshake after this many ms (10 000). */
  handshakeTimeout?: number;
  /** After a session ends, give up when no new one begins within this many ms (unlimited). */
  reconnectTimeout?: number;
  /** Deadline of calls that name none, in ms (30 000). */
  callTimeout?: number;
  /** Ping every `interval` ms; end the session when nothing was heard for `timeout` ms. Off by default. */
  heartbeat?: { interval: number; timeout: number };
  /** Largest frame accepted and sent, in bytes (4 MiB). */
  maxFrameBytes?: number;
  /** Called for every refused frame (they are also counted in `stats`). */
  onReject?: (label: Rejection, origin: string) => void;
}

/** A window as far as the bus needs it. */
export interface PeerWindow {
  postMessage(message: unknown, targetOrigin: string, transfer?: Transferable[]): void;
}

/** Where a connection listens and whom it talks to: what the window bindings provide. */
export interface Link {
  /** The peer window; every window message must come from it. */
  peer: PeerWindow;
  /** The window whose `message` events carry the peer's handshake. */
  self: Pick<Window, "addEventListener" | "removeEventListener">;
  /** The peer's origin when known: a host talks to it only, a guest knocks there first. */
  origin?: string;
  /** Whether the peer window is gone for good (a closed popup, a removed iframe); polled. */
  gone?: () => boolean;
}

interface Pending {
  ok: (payload: Uint8Array) => void;
  no: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const LIMIT = 4096;
const PHASE_HANDSHAKE = 0;
const PHASE_WELCOMED = 1;
const PHASE_CONNECTED = 2;
const PHASE_CLOSED = 3;

const random = (): Uint8Array => {
  const b = new Uint8Array(16);
  do crypto.getRandomValues(b);
  while (b.every((x) => !x));
  return b;
};

const same = (a: Uint8Array, b: Uint8Array): boolean => a.length == b.length && a.every((x, i) => x == b[i]);

const range = (v: Versions): string => `${v.min}..=${v.max}`;

/** The frame inside a message event's data, if it has our form. */
function frameOf(data: unknown): Uint8Array | undefined {
  const bytes = data instanceof Uint8Array ? data : Array.isArray(data) ? data[0] : undefined;
  return bytes instanceof Uint8Array && isFrame(bytes) ? bytes : undefined;
}

/**
 * A connection to one peer window. Made by `connectIframe`, `connectParent`,
 * `openPopup`, `connectPopup` or `connectOpener`; it handshakes, serves and
 * calls, and reconnects when the peer reloads, until {@link close}.
 */
export class Connection {
  /** `connecting`, `connected`, `reconnecting` (a session ended; waiting for the peer) or `closed`. */
  state: State = "connecting";
  /** Refused frames by label, and foreign messages (other libraries' traffic), counted. */
  readonly stats = { rejected: {} as Partial<Record<Rejection, number>>, foreign: 0 };
  /** Resolves with the reason once the connection is closed for good. */
  readonly closed: Promise<string>;

  private readonly allow: Allowlist;
  private readonly versions: Versions;
  private readonly max: number;
  private phase = PHASE_HANDSHAKE;
  private nonce: Uint8Array = NO_SESSION;
  private sid: Uint8Array = NO_SESSION;
  private origin = "";
  private version = 0;
  private peerMax = 0;
  private port?: MessagePort;
  private ever = false;
  private heard = 0;
  private nextId = 1n;
  private readonly pending = new Map<bigint, Pending>();
  private readonly serving = new Map<bigint, AbortController>();
  private readonly handlers = new Map<string, Handler>();
  private readonly topics = new Map<string, Set<(payload: Uint8Array) => void>>();
  private queue: Message[] = [];
  private flushing = false;
  private waiters: [() => void, (e: Error) => void][] = [];
  private timers: ReturnType<typeof setTimeout>[] = [];
  private done!: (reason: string) => void;
  private readonly listener = (e: MessageEvent): void => this.onWindow(e);

  constructor(
    private readonly role: "host" | "guest",
    private readonly link: Link,
    private readonly o: Options,
  ) {
    const allow = o.allow instanceof Allowlist ? o.allow : new Allowlist(o.allow, o.allowOpaqueOrigins);
    if (allow.empty) throw new Error("the allowlist is empty, so nobody could talk to this side; name the peer's origin");
    if (role == "host" && link.origin && !allow.allows(link.origin))
      throw new Error(`the peer's origin ${link.origin} is not in the allowlist (${allow}); add it`);
    this.allow = allow;
    this.versions = o.versions ?? { min: 1, max: 1 };
    this.max = o.maxFrameBytes ?? 4 << 20;
    this.closed = new Promise((r) => (this.done = r));
    link.self.addEventListener("message", this.listener);
    if (link.gone)
      this.timers[3] = setInterval(() => link.gone!() && this.shut("the peer window was closed or removed"), 250);
    this.start(false);
  }

  /** Resolves once a session is up; rejects if the connection closes first. */
  connected(): Promise<void> {
    return this.phase == PHASE_CONNECTED
      ? Promise.resolve()
      : this.phase == PHASE_CLOSED
        ? Promise.reject(new BusError("closed", "the connection is closed"))
        : new Promise((ok, no) => this.waiters.push([ok, no]));
  }

  /**
   * Calls `method` with the request's bytes and resolves with the response's.
   * Rejects with a {@link RemoteError} when the peer's handler fails, and a
   * {@link BusError} on a timeout, an abort, a disconnect or a close.
   */
  call(method: string, payload: Uint8Array, options: { timeout?: number; signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return new Promise((ok, no) => {
      const timeout = options.timeout ?? this.o.callTimeout ?? 30000;
      if (this.phase == PHASE_CLOSED) return no(new BusError("closed", "the connection is closed"));
      if (this.pending.size >= LIMIT || this.queue.length >= LIMIT)
        return no(new BusError("queue-full", `${LIMIT} calls or messages are already waiting; slow down`));
      const id = this.nextId++;
      const fail = (kind: Failure, why: string): void => this.settle(id, new BusError(kind, why), true);
      const timer = setTimeout(() => fail("timeout", `no reply to "${method}" within ${timeout} ms`), timeout);
      this.pending.set(id, { ok, no, timer });
      const signal = options.signal;
      if (signal) {
        if (signal.aborted) return fail("cancelled", "the call was cancelled");
        signal.addEventListener("abort", () => fail("cancelled", "the call was cancelled"), { once: true });
      }
      this.send({ t: 0, id, method, payload, timeout });
    });
  }

  /** Serves `method`; returns a function that stops serving it. */
  handle(method: string, handler: Handler): () => void {
    this.handlers.set(method, handler);
    return () => this.handlers.get(method) == handler && this.handlers.delete(method);
  }

  /** Sends an event on `topic`. Throws a {@link BusError} when closed or when too much is queued. */
  emit(topic: string, payload: Uint8Array): void {
    if (this.phase == PHASE_CLOSED) throw new BusError("closed", "the connection is closed");
    if (this.queue.length >= LIMIT) throw new BusError("queue-full", `${LIMIT} messages are already waiting`);
    this.send({ t: 2, topic, payload });
  }

  /** Listens to events on `topic`; returns a function that stops listening. */
  on(topic: string, listener: (payload: Uint8Array) => void): () => void {
    let set = this.topics.get(topic);
    if (!set) this.topics.set(topic, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Closes for good, telling the peer why; it will not reconnect. */
  close(reason = "closed"): void {
    if (this.phase == PHASE_CONNECTED) this.post(encodePacked(this.version, this.sid, [encodeMessage({ t: 6, reason })]));
    this.shut("closed locally: " + reason);
  }

  // ---- handshake ----

  /** Starts a handshake; a host greets unprompted only when asked to (else on a knock). */
  private start(greet: boolean): void {
    this.phase = PHASE_HANDSHAKE;
    this.sid = NO_SESSION;
    this.nonce = random();
    const limit = this.ever ? this.o.reconnectTimeout : (this.o.handshakeTimeout ?? 10000);
    clearTimeout(this.timers[1]);
    if (limit)
      this.timers[1] = setTimeout(
        () =>
          this.shut(
            this.ever
              ? `no new session within ${limit} ms of the last one ending; raise reconnectTimeout or leave it unlimited`
              : `no handshake within ${limit} ms: is the bus running in the other window, and is each side's origin in the other's allowlist?`,
          ),
        limit,
      );
    if (this.role == "guest" || greet) this.greet(50);
  }

  /** Knocks (guest) or says hello (host) to every first target, retrying with a doubling delay. */
  private greet(delay: number): void {
    const targets = this.link.origin ? [this.link.origin] : this.allow.exact.length ? this.allow.exact : ["null"];
    for (const t of targets) this.hello(t);
    this.timers[0] = setTimeout(() => this.greet(Math.min(delay * 2, 1000)), delay);
  }

  private hello(to: string): void {
    const versions = this.versions;
    this.postWindow(
      to,
      this.role == "host" ? { t: 1, versions, nonce: this.nonce, max: this.max } : { t: 0, versions },
      versions.max,
      NO_SESSION,
    );
  }

  private postWindow(origin: string, body: Body, version: number, session: Uint8Array, port?: MessagePort): void {
    // A concrete targetOrigin always; "*" only for an opaque peer, which the allowlist opted into.
    this.link.peer.postMessage(encode({ version, session, body }), origin == "null" ? "*" : origin, port ? [port] : []);
  }

  private onWindow(e: MessageEvent): void {
    let adopted: MessagePort | void = undefined;
    try {
      adopted = this.onHandshake(e);
    } finally {
      for (const p of e.ports ?? []) if (p != adopted) p.close();
    }
  }

  /** Checks a window message in the protocol's order and acts on it; returns the port it adopted. */
  private onHandshake(e: MessageEvent): MessagePort | void {
    const bytes = frameOf(e.data);
    if (!bytes) {
      this.stats.foreign++;
      return;
    }
    const origin = e.origin;
    if (e.source != (this.link.peer as unknown)) return this.reject("wrong-source", origin);
    if (this.role == "host" && this.link.origin ? origin != this.link.origin : !this.allow.allows(origin)) {
      // The peer window now shows a document we do not talk to: that session is over.
      if (this.phase == PHASE_CONNECTED && bytes[22] < 5) this.end("the peer window navigated to " + origin);
      return this.reject("disallowed-origin", origin);
    }
    if (e.data != bytes) return this.reject("bad-attachments", origin);
    const f = decode(bytes, this.max);
    // Not foreign: frameOf checked the form.
    if (typeof f == "string") return this.reject(f as Rejection, origin);
    const b = f.body;
    const host = this.role == "host";
    const phase = this.phase;
    if (b.t == 0 && host && (phase == PHASE_HANDSHAKE || phase == PHASE_CONNECTED)) {
      // Knock: the guest is up, or a new document in the peer window.
      if (phase == PHASE_CONNECTED) this.end("the peer window reloaded");
      this.hello(origin);
    } else if (b.t == 1 && !host && phase != PHASE_CLOSED) {
      if (same(b.nonce, this.nonce) && phase != PHASE_HANDSHAKE) {
        // A retried hello crossed our welcome: answer it the same way.
        if (phase == PHASE_WELCOMED) this.welcome();
        return;
      }
      const v = Math.min(this.versions.max, b.versions.max);
      if (v < Math.max(this.versions.min, b.versions.min)) {
        this.postWindow(origin, { t: 3, supported: this.versions }, this.versions.max, NO_SESSION);
        return this.mismatch(b.versions);
      }
      if (phase == PHASE_CONNECTED) this.end("the peer started a new session", true);
      this.nonce = b.nonce;
      this.sid = random();
      this.origin = origin;
      this.version = v;
      this.peerMax = Math.min(Math.max(b.max, 256), this.max);
      this.phase = PHASE_WELCOMED;
      this.welcome();
      // No ready in time: knock again.
      clearTimeout(this.timers[0]);
      this.timers[0] = setTimeout(() => {
        this.phase = PHASE_HANDSHAKE;
        this.greet(50);
      }, this.o.handshakeTimeout ?? 10000);
    } else if (b.t == 2 && host) {
      if (phase == PHASE_CONNECTED && same(f.session, this.sid) && origin == this.origin) return;
      if (phase != PHASE_HANDSHAKE || !same(b.nonce, this.nonce)) return this.reject("stale-handshake", origin);
      if (same(f.session, NO_SESSION)) return this.reject("wrong-session", origin);
      if (b.version < this.versions.min || b.version > this.versions.max) return this.reject("wrong-version", origin);
      this.sid = f.session;
      this.origin = origin;
      this.version = b.version;
      this.peerMax = Math.min(Math.max(b.max, 256), this.max);
      const { port1, port2 } = new MessageChannel();
      this.postWindow(origin, { t: 4 }, b.version, this.sid, port2);
      this.open(port1);
    } else if (b.t == 3 && phase < PHASE_CONNECTED) {
      this.mismatch(b.supported);
    } else if (b.t == 4 && !host) {
      const port = e.ports?.[0];
      if (!port) return this.reject("unexpected", origin);
      if (phase != PHASE_WELCOMED || !same(f.session, this.sid) || origin != this.origin)
        return this.reject("wrong-session", origin);
      this.open(port);
      return port;
    } else {
      return this.reject("unexpected", origin);
    }
  }

  private welcome(): void {
    const v = this.version;
    this.postWindow(this.origin, { t: 2, nonce: this.nonce, version: v, max: this.max }, v, this.sid);
  }

  private mismatch(remote: Versions): void {
    this.shut(
      `protocol version mismatch: this side supports ${range(this.versions)}, the peer supports ${range(remote)}; upgrade the older side`,
    );
  }

  private open(port: MessagePort): void {
    clearTimeout(this.timers[0]);
    clearTimeout(this.timers[1]);
    this.port = port;
    port.onmessage = (e) => this.onPort(e);
    this.phase = PHASE_CONNECTED;
    this.state = "connected";
    this.heard = Date.now();
    const hb = this.o.heartbeat;
    if (hb)
      this.timers[2] = setInterval(() => {
        if (Date.now() - this.heard > hb.timeout) this.end(`the peer did not answer for ${hb.timeout} ms (heartbeat)`, false, true);
        else this.send({ t: 4 });
      }, hb.interval);
    for (const [ok] of this.waiters.splice(0)) ok();
    this.flush();
  }

  /** Ends the session (the connection goes on): fails what waits, drops what is queued, handshakes again. */
  private end(why: string, answering = false, greet = false): void {
    this.drop(new BusError("disconnected", `disconnected: ${why}; the bus reconnects, so a retry can succeed`));
    this.ever = true;
    this.state = "reconnecting";
    if (answering) this.phase = PHASE_HANDSHAKE;
    else this.start(greet);
  }

  private drop(error: Error): void {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.no(error);
    }
    this.pending.clear();
    for (const [, c] of this.serving) c.abort(error);
    this.serving.clear();
    this.queue = [];
    clearInterval(this.timers[2]);
    this.port?.close();
    this.port = undefined;
  }

  private shut(why: string): void {
    if (this.phase == PHASE_CLOSED) return;
    const error = new BusError("closed", why);
    this.drop(error);
    this.phase = PHASE_CLOSED;
    this.state = "closed";
    for (const t of this.timers) clearTimeout(t);
    this.link.self.removeEventListener("message", this.listener);
    for (const [, no] of this.waiters.splice(0)) no(error);
    this.done(why);
  }

  private reject(label: Rejection, origin: string): undefined {
    this.stats.rejected[label] = (this.stats.rejected[label] ?? 0) + 1;
    this.o.onReject?.(label, origin);
    return undefined;
  }

  // ---- the session ----

  private onPort(e: MessageEvent): void {
    const bytes = frameOf(e.data);
    const origin = this.origin;
    if (!bytes) {
      this.stats.foreign++;
      return;
    }
    if (e.data != bytes) return this.reject("bad-attachments", origin);
    const f = decode(bytes, this.max);
    // Not foreign: frameOf checked the form.
    if (typeof f == "string") return this.reject(f as Rejection, origin);
    if (f.body.t != 5 || this.phase != PHASE_CONNECTED) return this.reject("unexpected", origin);
    if (!same(f.session, this.sid)) return this.reject("wrong-session", origin);
    if (f.version != this.version) return this.reject("wrong-version", origin);
    const messages = f.body.messages;
    // Attachments arrive only with the frame (never here): an Attach cannot add up.
    if (messages.some((m) => m.t == 7)) return this.reject("bad-attachments", origin);
    this.heard = Date.now();
    let ping = false;
    for (const m of messages) {
      if (this.phase != PHASE_CONNECTED) return;
      if (m.t == 0) this.serve(m.id, m.method, m.payload, m.timeout);
      else if (m.t == 1) {
        if (!this.pending.has(m.id)) this.reject("unknown-reply", origin);
        else if (m.err) this.settle(m.id, new RemoteError(m.err.code, m.err.message, m.err.data));
        else this.settle(m.id, undefined, false, m.ok);
      } else if (m.t == 2) {
        for (const l of this.topics.get(m.topic) ?? []) {
          try {
            l(m.payload);
          } catch (err) {
            console.error(err);
          }
        }
      } else if (m.t == 3) {
        this.serving.get(m.id)?.abort(new BusError("cancelled", "the caller cancelled the call"));
        this.serving.delete(m.id);
      } else if (m.t == 4) ping = true;
      else if (m.t == 6) return this.shut("closed by the peer: " + m.reason);
    }
    if (ping) this.send({ t: 5 });
  }

  private serve(id: bigint, method: string, payload: Uint8Array, timeout?: number): void {
    if (this.serving.has(id)) return void this.reject("duplicate-call", this.origin);
    const handler = this.handlers.get(method);
    const answer = (err?: { code: number; message: string; data?: Uint8Array }, ok?: Uint8Array): void =>
      this.send(err ? { t: 1, id, err } : { t: 1, id, ok });
    if (this.serving.size >= LIMIT) return answer({ code: OVERLOADED, message: "overloaded: try again later" });
    if (!handler) return answer({ code: METHOD_NOT_FOUND, message: `no handler for "${method}"` });
    const c = new AbortController();
    this.serving.set(id, c);
    const timer =
      timeout === undefined ? 0 : setTimeout(() => this.serving.get(id) == c && (this.serving.delete(id), c.abort()), timeout);
    c.signal.addEventListener("abort", () => clearTimeout(timer));
    const settle = (err?: RemoteError, ok?: unknown): void => {
      clearTimeout(timer);
      // Cancelled, timed out or the session ended: the caller no longer waits.
      if (this.serving.get(id) != c) return;
      this.serving.delete(id);
      if (err) answer({ code: err.code, message: err.message, data: err.data });
      else if (ok instanceof Uint8Array) answer(undefined, ok);
      else answer({ code: INTERNAL, message: `the handler of "${method}" did not answer with bytes` });
    };
    new Promise<Uint8Array>((ok) => ok(handler(payload, c.signal))).then(
      (ok) => settle(undefined, ok),
      (err) => settle(err instanceof RemoteError ? err : new RemoteError(INTERNAL, String(err?.message ?? err))),
    );
  }

  /** Settles a pending call; `withdraw` also takes it back from the queue or tells the peer to stop. */
  private settle(id: bigint, error?: Error, withdraw = false, ok?: Uint8Array): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (error) p.no(error);
    else p.ok(ok!);
    if (withdraw) {
      const i = this.queue.findIndex((m) => m.t == 0 && m.id == id);
      if (i >= 0) this.queue.splice(i, 1);
      else if (this.phase == PHASE_CONNECTED) this.send({ t: 3, id });
    }
  }

  /** Queues a message; what one turn of the event loop sends goes out coalesced. */
  private send(m: Message): void {
    this.queue.push(m);
    if (!this.flushing && this.phase == PHASE_CONNECTED) {
      this.flushing = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Sends the queue in frames no longer than the peer accepts. */
  private flush(): void {
    this.flushing = false;
    if (this.phase != PHASE_CONNECTED) return;
    const room = this.peerMax - 26;
    let parts: Uint8Array[] = [];
    let size = 0;
    for (const m of this.queue.splice(0)) {
      const part = encodeMessage(m);
      if (part.length > room) {
        if (m.t == 0) this.settle(m.id, new BusError("too-large", `the request to "${m.method}" is larger than the peer accepts`));
        else if (m.t == 1) this.send({ t: 1, id: m.id, err: { code: INTERNAL, message: "the answer is larger than the caller accepts" } });
        continue;
      }
      if (size + part.length > room || parts.length == 1024) {
        this.post(encodePacked(this.version, this.sid, parts));
        parts = [];
        size = 0;
      }
      parts.push(part);
      size += part.length;
    }
    if (parts.length) this.post(encodePacked(this.version, this.sid, parts));
  }

  private post(frame: Uint8Array): void {
    this.port?.postMessage(frame, frame.length > 4096 ? [frame.buffer] : []);
  }
}
