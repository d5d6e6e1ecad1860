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
  /**
   * Origins that may talk to this side: `scheme://host[:port]` or `scheme://*.domain[:port]`.
   * A guest knocks at its exact entries (a wildcard cannot be posted to), so
   * list the host's exact origin: hosts wait for a knock.
   */
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

/** A call waiting for its reply: resolve, reject, deadline. */
type Pending = [(payload: Uint8Array) => void, (error: Error) => void, ReturnType<typeof setTimeout>];

/** The options' allowlist, built from its entries if need be (which throws an {@link OriginError} for a bad one). */
export const allowlistOf = (o: Options): Allowlist =>
  o.allow instanceof Allowlist ? o.allow : new Allowlist(o.allow, o.allowOpaqueOrigins);

/** Throws unless `allow` allows `origin`: a host talks only to an origin it allows. */
export const mustAllow = (allow: Allowlist, origin: string): void => {
  if (!allow.allows(origin)) throw new Error(`${origin} is not in the allowlist (${allow}); add it`);
};

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

/** A version range as bus-core writes it: `v1`, `v1..=v3`. */
const range = (v: Versions): string => (v.min == v.max ? `v${v.min}` : `v${v.min}..=v${v.max}`);

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
  get state(): State {
    const p = this._phase;
    return p == PHASE_CONNECTED ? "connected" : p == PHASE_CLOSED ? "closed" : this._ever ? "reconnecting" : "connecting";
  }
  /** Refused frames by label, and foreign messages (other libraries' traffic), counted. */
  readonly stats = { rejected: {} as Partial<Record<Rejection, number>>, foreign: 0 };
  /** Resolves with the reason once the connection is closed for good. */
  readonly closed: Promise<string>;

  private readonly _allow: Allowlist;
  private readonly _versions: Versions;
  private readonly _max: number;
  private _phase = PHASE_HANDSHAKE;
  private _nonce: Uint8Array = NO_SESSION;
  private _sid: Uint8Array = NO_SESSION;
  private _origin!: string;
  private _version!: number;
  private _peerMax!: number;
  private _port?: MessagePort;
  private _ever?: boolean;
  private _heard!: number;
  private _nextId = 1n;
  private readonly _pending = new Map<bigint, Pending>();
  private readonly _serving = new Map<bigint, AbortController>();
  private readonly _handlers = new Map<string, Handler>();
  private readonly _topics = new Map<string, Set<(payload: Uint8Array) => void>>();
  private _queue: Message[] = [];
  private _waiters: [() => void, (e: Error) => void][] = [];
  private _timers: ReturnType<typeof setTimeout>[] = [];
  private _done!: (reason: string) => void;
  private readonly _listener = (e: MessageEvent): void => this._onWindow(e);

  private readonly _role: "host" | "guest";
  private readonly _link: Link;
  /** `link.origin` when the allowlist allows it. */
  private readonly _peerOrigin?: string;
  private readonly _o: Options;

  /** Prefer the window bindings (`connectIframe`…); this is for other links (tests, workers). */
  constructor(role: "host" | "guest", link: Link, o: Options) {
    this._role = role;
    this._link = link;
    this._o = o;
    const allow = allowlistOf(o);
    if (allow.empty) throw new Error("empty allowlist: name the peer's origin");
    if (role == "host" && link.origin) mustAllow(allow, link.origin);
    this._allow = allow;
    // A guest's first knock goes where the page says its peer is, if allowed.
    this._peerOrigin = link.origin && allow.allows(link.origin) ? link.origin : undefined;
    this._versions = o.versions ?? { min: 1, max: 1 };
    this._max = o.maxFrameBytes ?? 4 << 20;
    this.closed = new Promise((r) => (this._done = r));
    link.self.addEventListener("message", this._listener);
    if (link.gone)
      this._timers[3] = setInterval(() => link.gone!() && this._shut("the peer window is gone"), 250);
    this._start(false);
  }

  /** Resolves once a session is up; rejects if the connection closes first. */
  connected(): Promise<void> {
    return this._phase == PHASE_CONNECTED
      ? Promise.resolve()
      : this._phase == PHASE_CLOSED
        ? Promise.reject(this._full())
        : new Promise((ok, no) => this._waiters.push([ok, no]));
  }

  /**
   * Calls `method` with the request's bytes and resolves with the response's.
   * Rejects with a {@link RemoteError} when the peer's handler fails, and a
   * {@link BusError} on a timeout, an abort, a disconnect or a close.
   */
  call(method: string, payload: Uint8Array, options: { timeout?: number; signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return new Promise((ok, no) => {
      const timeout = options.timeout ?? this._o.callTimeout ?? 30000;
      const full = this._full(this._pending.size);
      if (full) return no(full);
      const id = this._nextId++;
      const fail = (kind: Failure, why: string): void => this._settle(id, new BusError(kind, why), true);
      this._pending.set(id, [ok, no, setTimeout(() => fail("timeout", `"${method}": no reply in ${timeout} ms`), timeout)]);
      const signal = options.signal;
      if (signal) {
        const abort = (): void => fail("cancelled", "cancelled");
        if (signal.aborted) return abort();
        signal.addEventListener("abort", abort, { once: true });
      }
      this._send({ t: 0, id, method, payload, timeout });
    });
  }

  /** Serves `method`; returns a function that stops serving it. */
  handle(method: string, handler: Handler): () => void {
    this._handlers.set(method, handler);
    return () => this._handlers.get(method) == handler && this._handlers.delete(method);
  }

  /** Sends an event on `topic`. Throws a {@link BusError} when closed or when too much is queued. */
  emit(topic: string, payload: Uint8Array): void {
    const full = this._full();
    if (full) throw full;
    this._send({ t: 2, topic, payload });
  }

  /** Why nothing more can be sent, if so (`calls` waiting for replies count too). */
  private _full(calls = 0): BusError | void {
    if (this._phase == PHASE_CLOSED) return new BusError("closed", "closed");
    if (Math.max(calls, this._queue.length) >= LIMIT) return new BusError("queue-full", `over ${LIMIT} calls or messages wait`);
  }

  /** Listens to events on `topic`; returns a function that stops listening. */
  on(topic: string, listener: (payload: Uint8Array) => void): () => void {
    let set = this._topics.get(topic);
    if (!set) this._topics.set(topic, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Closes for good, telling the peer why; it will not reconnect. */
  close(reason = "closed"): void {
    if (this._phase == PHASE_CONNECTED) this._post(encodePacked(this._version, this._sid, [encodeMessage({ t: 6, reason })]));
    this._shut("closed locally: " + reason);
  }

  // ---- handshake ----

  /** Starts a handshake; a host greets unprompted only when asked to (else on a knock). */
  private _start(greet: boolean): void {
    this._phase = PHASE_HANDSHAKE;
    this._sid = NO_SESSION;
    this._nonce = random();
    this._deadline();
    if (this._role == "guest" || greet) this._greet(50);
  }

  /** Arms the give-up timer: the first handshake's, or after a session, reconnectTimeout's. */
  private _deadline(): void {
    const limit = this._ever ? this._o.reconnectTimeout : (this._o.handshakeTimeout ?? 10000);
    clearTimeout(this._timers[1]);
    if (limit)
      this._timers[1] = setTimeout(
        () =>
          this._shut(
            this._ever
              ? `no new session in ${limit} ms (reconnectTimeout)`
              : `no handshake in ${limit} ms: does the peer run the bus and allow this origin?`,
          ),
        limit,
      );
  }

  /** Knocks (guest) or says hello (host) to every first target, retrying with a doubling delay. */
  private _greet(delay: number): void {
    // The peer's origin if known, else every exact entry; never "*" but for
    // an opted-in opaque peer. A guest with wildcard entries only waits for
    // its host's hello.
    const allow = this._allow;
    const targets = this._peerOrigin ? [this._peerOrigin] : allow.exact.length ? allow.exact : allow.opaque ? ["null"] : [];
    for (const t of targets) this._hello(t);
    this._timers[0] = setTimeout(() => this._greet(Math.min(delay * 2, 1000)), delay);
  }

  private _hello(to: string): void {
    const v = this._versions;
    this._tell(to, this._role == "host" ? { t: 1, ...v, nonce: this._nonce, limit: this._max } : { t: 0, ...v });
  }

  /** Posts a handshake frame to the peer window, written in `version` (else our newest). */
  private _tell(origin: string, body: Body, version = this._versions.max, session = NO_SESSION, port?: MessagePort): void {
    // A concrete targetOrigin always; "*" only for an opaque peer, which the allowlist opted into.
    this._link.peer.postMessage(encode({ version, session, body }), origin == "null" ? "*" : origin, port ? [port] : []);
  }

  /** The session being set up: its id, peer origin, version and the peer's frame limit (clamped). */
  private _bind(sid: Uint8Array, origin: string, version: number, limit: number): void {
    this._sid = sid;
    this._origin = origin;
    this._version = version;
    this._peerMax = Math.min(Math.max(limit, 256), this._max);
  }

  private _onWindow(e: MessageEvent): void {
    let adopted: MessagePort | void = undefined;
    try {
      adopted = this._onHandshake(e);
    } finally {
      for (const p of e.ports ?? []) if (p != adopted) p.close();
    }
  }

  /** Checks a window message in the protocol's order and acts on it; returns the port it adopted. */
  private _onHandshake(e: MessageEvent): MessagePort | void {
    const bytes = frameOf(e.data);
    if (!bytes) {
      this.stats.foreign++;
      return;
    }
    const origin = e.origin;
    if (e.source != (this._link.peer as unknown)) return this._reject("wrong-source", origin);
    if (this._role == "host" && this._peerOrigin ? origin != this._peerOrigin : !this._allow.allows(origin)) {
      // The peer window now shows a document we do not talk to: that session is over.
      if (this._phase == PHASE_CONNECTED && bytes[22] < 5) this._end("the peer window navigated to " + origin);
      return this._reject("disallowed-origin", origin);
    }
    if (e.data != bytes) return this._reject("bad-attachments", origin);
    const f = decode(bytes, this._max);
    // Not foreign: frameOf checked the form.
    if (typeof f == "string") return this._reject(f as Rejection, origin);
    const b = f.body;
    const host = this._role == "host";
    const phase = this._phase;
    if (b.t == 0 && host && (phase == PHASE_HANDSHAKE || phase == PHASE_CONNECTED)) {
      // Knock: the guest is up, or a new document in the peer window.
      if (phase == PHASE_CONNECTED) this._end("the peer window reloaded");
      this._hello(origin);
    } else if (b.t == 1 && !host && phase != PHASE_CLOSED) {
      if (same(b.nonce, this._nonce) && phase != PHASE_HANDSHAKE) {
        // A retried hello crossed our welcome: answer it the same way.
        if (phase == PHASE_WELCOMED) this._welcome();
        return;
      }
      const v = Math.min(this._versions.max, b.max);
      if (v < Math.max(this._versions.min, b.min)) {
        this._tell(origin, { t: 3, refusal: 0, ...this._versions });
        return this._mismatch(b);
      }
      if (phase == PHASE_CONNECTED) this._end("the peer began a new session", true);
      this._nonce = b.nonce;
      this._bind(random(), origin, v, b.limit);
      this._phase = PHASE_WELCOMED;
      this._welcome();
      // No ready in time: knock again.
      clearTimeout(this._timers[0]);
      this._timers[0] = setTimeout(() => {
        this._phase = PHASE_HANDSHAKE;
        this._greet(50);
      }, this._o.handshakeTimeout ?? 10000);
    } else if (b.t == 2 && host) {
      if (phase == PHASE_CONNECTED && same(f.session, this._sid) && origin == this._origin) return;
      if (phase != PHASE_HANDSHAKE || !same(b.nonce, this._nonce)) return this._reject("stale-handshake", origin);
      if (same(f.session, NO_SESSION)) return this._reject("wrong-session", origin);
      if (b.version < this._versions.min || b.version > this._versions.max) return this._reject("wrong-version", origin);
      this._bind(f.session, origin, b.version, b.limit);
      const { port1, port2 } = new MessageChannel();
      this._tell(origin, { t: 4 }, b.version, f.session, port2);
      this._open(port1);
    } else if (b.t == 3 && phase < PHASE_CONNECTED) {
      this._mismatch(b);
    } else if (b.t == 4 && !host) {
      const port = e.ports?.[0];
      if (!port) return this._reject("unexpected", origin);
      if (phase != PHASE_WELCOMED || !same(f.session, this._sid) || origin != this._origin)
        return this._reject("wrong-session", origin);
      this._open(port);
      return port;
    } else {
      return this._reject("unexpected", origin);
    }
  }

  private _welcome(): void {
    const v = this._version;
    this._tell(this._origin, { t: 2, nonce: this._nonce, version: v, limit: this._max }, v, this._sid);
  }

  private _mismatch(remote: Versions): void {
    this._shut(
      `protocol version mismatch: this side supports ${range(this._versions)}, the peer supports ${range(remote)}; upgrade the older side`,
    );
  }

  private _open(port: MessagePort): void {
    clearTimeout(this._timers[0]);
    clearTimeout(this._timers[1]);
    this._port = port;
    port.onmessage = (e) => this._onPort(e);
    this._phase = PHASE_CONNECTED;
    this._heard = Date.now();
    const hb = this._o.heartbeat;
    if (hb)
      this._timers[2] = setInterval(() => {
        if (Date.now() - this._heard > hb.timeout) this._end(`no answer in ${hb.timeout} ms (heartbeat)`, false, true);
        else this._send({ t: 4 });
      }, hb.interval);
    for (const [ok] of this._waiters.splice(0)) ok();
    this._flush();
  }

  /** Ends the session (the connection goes on): fails what waits, drops what is queued, handshakes again. */
  private _end(why: string, answering = false, greet = false): void {
    this._drop(new BusError("disconnected", `disconnected: ${why}; retry`));
    this._ever = true;
    if (answering) {
      // Answering the peer's new hello: no knock, but the same deadline.
      this._phase = PHASE_HANDSHAKE;
      this._deadline();
    } else this._start(greet);
  }

  private _drop(error: Error): void {
    for (const [, p] of this._pending) {
      clearTimeout(p[2]);
      p[1](error);
    }
    this._pending.clear();
    for (const [, c] of this._serving) c.abort(error);
    this._serving.clear();
    this._queue = [];
    clearInterval(this._timers[2]);
    this._port?.close();
    this._port = undefined;
  }

  private _shut(why: string): void {
    if (this._phase == PHASE_CLOSED) return;
    const error = new BusError("closed", why);
    this._drop(error);
    this._phase = PHASE_CLOSED;
    for (const t of this._timers) clearTimeout(t);
    this._link.self.removeEventListener("message", this._listener);
    for (const [, no] of this._waiters.splice(0)) no(error);
    this._done(why);
  }

  private _reject(label: Rejection, origin: string): undefined {
    this.stats.rejected[label] = (this.stats.rejected[label] ?? 0) + 1;
    this._o.onReject?.(label, origin);
    return undefined;
  }

  // ---- the session ----

  private _onPort(e: MessageEvent): void {
    const bytes = frameOf(e.data);
    const origin = this._origin;
    if (!bytes) {
      this.stats.foreign++;
      return;
    }
    if (e.data != bytes) return this._reject("bad-attachments", origin);
    const f = decode(bytes, this._max);
    // Not foreign: frameOf checked the form.
    if (typeof f == "string") return this._reject(f as Rejection, origin);
    if (f.body.t != 5 || this._phase != PHASE_CONNECTED) return this._reject("unexpected", origin);
    if (!same(f.session, this._sid)) return this._reject("wrong-session", origin);
    if (f.version != this._version) return this._reject("wrong-version", origin);
    const messages = f.body.messages;
    // Attachments arrive only with the frame (never here): an Attach cannot add up.
    if (messages.some((m) => m.t == 7)) return this._reject("bad-attachments", origin);
    this._heard = Date.now();
    let ping = false;
    for (const m of messages) {
      if (this._phase != PHASE_CONNECTED) return;
      if (m.t == 0) this._serve(m.id, m.method, m.payload, m.timeout);
      else if (m.t == 1) {
        if (!this._pending.has(m.id)) this._reject("unknown-reply", origin);
        else this._settle(m.id, m.outcome ? new RemoteError(m.code, m.message, m.data) : m.ok);
      } else if (m.t == 2) {
        for (const l of this._topics.get(m.topic) ?? []) {
          try {
            l(m.payload);
          } catch (err) {
            console.error(err);
          }
        }
      } else if (m.t == 3) {
        this._serving.get(m.id)?.abort(new BusError("cancelled", "cancelled"));
        this._serving.delete(m.id);
      } else if (m.t == 4) ping = true;
      else if (m.t == 6) return this._shut("closed by the peer: " + m.reason);
    }
    if (ping) this._send({ t: 5 });
  }

  private _serve(id: bigint, method: string, payload: Uint8Array, timeout?: number): void {
    if (this._serving.has(id)) return void this._reject("duplicate-call", this._origin);
    const handler = this._handlers.get(method);
    const fail = (e: RemoteError): void => this._send({ t: 1, id, outcome: 1, code: e.code, message: e.message, data: e.data });
    if (this._serving.size >= LIMIT) return fail(new RemoteError(OVERLOADED, "overloaded"));
    if (!handler) return fail(new RemoteError(METHOD_NOT_FOUND, `no handler for "${method}"`));
    const c = new AbortController();
    this._serving.set(id, c);
    const timer = timeout === undefined ? 0 : setTimeout(() => c.abort(), timeout);
    // Whether the caller still waits (not cancelled, not timed out, same session); it is served then.
    const waits = (): boolean => (clearTimeout(timer), this._serving.get(id) == c && this._serving.delete(id));
    c.signal.addEventListener("abort", waits);
    new Promise<unknown>((ok) => ok(handler(payload, c.signal))).then(
      (ok) =>
        waits() &&
        (ok instanceof Uint8Array
          ? this._send({ t: 1, id, outcome: 0, ok })
          : fail(new RemoteError(INTERNAL, `"${method}" did not answer bytes`))),
      (err) => waits() && fail(err instanceof RemoteError ? err : new RemoteError(INTERNAL, String(err?.message ?? err))),
    );
  }

  /** Settles a pending call; `withdraw` also takes it back from the queue or tells the peer to stop. */
  private _settle(id: bigint, result: Uint8Array | Error, withdraw?: boolean): void {
    const p = this._pending.get(id);
    if (!p) return;
    this._pending.delete(id);
    clearTimeout(p[2]);
    p[result instanceof Error ? 1 : 0](result as never);
    // Connected, the peer is told to stop (a call still queued goes out just before its cancel).
    if (withdraw)
      if (this._phase == PHASE_CONNECTED) this._send({ t: 3, id });
      else this._queue = this._queue.filter((m) => m.t || m.id != id);
  }

  /** Queues a message; what one turn of the event loop sends goes out coalesced. */
  private _send(m: Message): void {
    if (this._queue.push(m) == 1 && this._phase == PHASE_CONNECTED) queueMicrotask(() => this._flush());
  }

  /** Sends the queue in frames no longer than the peer accepts. */
  private _flush(): void {
    if (this._phase != PHASE_CONNECTED) return;
    const room = this._peerMax - 26;
    let parts: Uint8Array[] = [];
    let size = 0;
    for (const m of this._queue.splice(0)) {
      const part = encodeMessage(m);
      if (part.length > room) {
        if (m.t == 0) this._settle(m.id, new BusError("too-large", "over the peer's frame limit"));
        else if (m.t == 1) this._send({ t: 1, id: m.id, outcome: 1, code: INTERNAL, message: "over the caller's frame limit" });
        continue;
      }
      if (size + part.length > room || parts.length == 1024) {
        this._post(encodePacked(this._version, this._sid, parts));
        parts = [];
        size = 0;
      }
      parts.push(part);
      size += part.length;
    }
    if (parts.length) this._post(encodePacked(this._version, this._sid, parts));
  }

  private _post(frame: Uint8Array): void {
    this._port?.postMessage(frame, frame.length > 4096 ? [frame.buffer] : []);
  }
}
