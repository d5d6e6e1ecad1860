// One connection to one peer window: the handshake, the session on the
// private port, calls, events, heartbeat and close, as docs/PROTOCOL.md
// says. The window bindings (windows.ts) only say which window to talk to.

import { Allowlist } from "./origin.js";
import {
  type Body,
  type Frame,
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
    message: string = kind,
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

type Timer = ReturnType<typeof setTimeout> | undefined;

/** A call waiting for its reply: resolve, reject, deadline. */
type Pending = [(payload: Uint8Array) => void, (error: Error) => void, Timer];

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
const range = (min: number, max: number): string => (min == max ? `v${min}` : `v${min}..=v${max}`);

/** The frame inside a message event's data, if it has our form. */
function frameOf(data: unknown): Uint8Array | undefined {
  const bytes = data instanceof Uint8Array ? data : Array.isArray(data) ? data[0] : undefined;
  return bytes instanceof Uint8Array && isFrame(bytes) ? bytes : undefined;
}

/**
 * A connection to one peer window, made by `connectIframe`, `connectParent`,
 * `openPopup`, `connectPopup` or `connectOpener` (or {@link connect}); it
 * handshakes, serves and calls, and reconnects when the peer reloads, until
 * {@link Connection.close}.
 */
export interface Connection {
  /** `connecting`, `connected`, `reconnecting` (a session ended; waiting for the peer) or `closed`. */
  readonly state: State;
  /** Refused frames by label, and foreign messages (other libraries' traffic), counted. */
  readonly stats: { rejected: Partial<Record<Rejection, number>>; foreign: number };
  /** Resolves with the reason once the connection is closed for good. */
  readonly closed: Promise<string>;
  /** Resolves once a session is up; rejects if the connection closes first. */
  connected(): Promise<void>;
  /**
   * Calls `method` with the request's bytes and resolves with the response's.
   * Rejects with a {@link RemoteError} when the peer's handler fails, and a
   * {@link BusError} on a timeout, an abort, a disconnect or a close.
   */
  call(method: string, payload: Uint8Array, options?: { timeout?: number; signal?: AbortSignal }): Promise<Uint8Array>;
  /** Serves `method`; returns a function that stops serving it. */
  handle(method: string, handler: Handler): () => void;
  /** Sends an event on `topic`. Throws a {@link BusError} when closed or when too much is queued. */
  emit(topic: string, payload: Uint8Array): void;
  /** Listens to events on `topic`; returns a function that stops listening. */
  on(topic: string, listener: (payload: Uint8Array) => void): () => void;
  /** Closes for good, telling the peer why; it will not reconnect. */
  close(reason?: string): void;
}

/**
 * Connects as `role` over `link`. Prefer the window bindings
 * (`connectIframe`…); this is for other links (tests, workers).
 */
export function connect(role: "host" | "guest", link: Link, o: Options): Connection {
  const allow = allowlistOf(o);
  if (allow.empty) throw new Error("empty allowlist: name the peer's origin");
  const host = role == "host";
  if (host && link.origin) mustAllow(allow, link.origin);
  // A guest's first knock goes where the page says its peer is, if allowed.
  const peerOrigin = link.origin && allow.allows(link.origin) ? link.origin : undefined;
  const { min: lo, max: hi } = o.versions ?? { min: 1, max: 1 };
  const max = o.maxFrameBytes ?? 4 << 20;
  const handshakeTimeout = o.handshakeTimeout ?? 10000;
  const stats: Connection["stats"] = { rejected: {}, foreign: 0 };
  const pending = new Map<bigint, Pending>();
  const serving = new Map<bigint, AbortController>();
  const handlers = new Map<string, Handler>();
  const topics = new Map<string, Set<(payload: Uint8Array) => void>>();
  const waiters: [() => void, (e: Error) => void][] = [];
  let phase = PHASE_HANDSHAKE;
  let nonce = NO_SESSION;
  let sid = NO_SESSION;
  // The session's peer origin and version, and the peer's frame limit.
  let origin: string;
  let version: number;
  let peerMax: number;
  let port: MessagePort | undefined;
  let ever = false;
  let heard: number;
  let nextId = 1n;
  let queue: Message[] = [];
  // Timers: the knock or hello retry, the give-up deadline, the heartbeat.
  let retry: Timer;
  let deadline: Timer;
  let beat: Timer;
  let watch: Timer;
  let done!: (reason: string) => void;
  const closed = new Promise<string>((r) => (done = r));

  /** Why nothing more can be sent, if so (`calls` waiting for replies count too). */
  const full = (calls = 0): BusError | void => {
    if (phase == PHASE_CLOSED) return new BusError("closed");
    if (Math.max(calls, queue.length) >= LIMIT) return new BusError("queue-full", `over ${LIMIT} calls or messages wait`);
  };

  const reject = (label: Rejection, from: string): undefined => {
    stats.rejected[label] = (stats.rejected[label] ?? 0) + 1;
    o.onReject?.(label, from);
    return undefined;
  };

  /** Decodes the frame `bytes` that `data` carried, or refuses it. */
  const decoded = (data: unknown, bytes: Uint8Array, from: string): Frame | undefined => {
    if (data != bytes) return reject("bad-attachments", from);
    const f = decode(bytes, max);
    // Not foreign: frameOf checked the form.
    return typeof f == "string" ? reject(f as Rejection, from) : f;
  };

  // ---- handshake ----

  /** Starts a handshake; a host greets unprompted only when asked to (else on a knock). */
  const start = (greet?: boolean): void => {
    phase = PHASE_HANDSHAKE;
    sid = NO_SESSION;
    nonce = random();
    arm();
    if (!host || greet) hail(50);
  };

  /** Arms the give-up timer: the first handshake's, or after a session, reconnectTimeout's. */
  const arm = (): void => {
    const limit = ever ? o.reconnectTimeout : handshakeTimeout;
    clearTimeout(deadline);
    if (limit)
      deadline = setTimeout(
        () =>
          shut(
            ever
              ? `no new session in ${limit} ms (reconnectTimeout)`
              : `no handshake in ${limit} ms: does the peer run the bus and allow this origin?`,
          ),
        limit,
      );
  };

  /** Knocks (guest) or says hello (host) to every first target, retrying with a doubling delay. */
  const hail = (delay: number): void => {
    // The peer's origin if known, else every exact entry; never "*" but for
    // an opted-in opaque peer. A guest with wildcard entries only waits for
    // its host's hello.
    for (const to of peerOrigin ? [peerOrigin] : allow.exact.length ? allow.exact : allow.opaque ? ["null"] : []) hello(to);
    retry = setTimeout(() => hail(Math.min(delay * 2, 1000)), delay);
  };

  const hello = (to: string): void => {
    tell(to, host ? [1, lo, hi, nonce, max] : [0, lo, hi]);
  };

  /** Posts a handshake frame to the peer window, written in `v` (else our newest). */
  const tell = (to: string, body: Body, v = hi, session = NO_SESSION, transfer?: MessagePort): void =>
    // A concrete targetOrigin always; "*" only for an opaque peer, which the allowlist opted into.
    link.peer.postMessage(encode([v, session, body]), to == "null" ? "*" : to, transfer ? [transfer] : []);

  /** The session being set up: its id, peer origin, version and the peer's frame limit (clamped). */
  const bind = (session: Uint8Array, from: string, v: number, limit: number): void => {
    sid = session;
    origin = from;
    version = v;
    peerMax = Math.min(Math.max(limit, 256), max);
  };

  const onWindow = (e: MessageEvent): void => {
    let adopted: MessagePort | void = undefined;
    try {
      adopted = onHandshake(e);
    } finally {
      for (const p of e.ports ?? []) if (p != adopted) p.close();
    }
  };

  /** Checks a window message in the protocol's order and acts on it; returns the port it adopted. */
  const onHandshake = (e: MessageEvent): MessagePort | void => {
    const bytes = frameOf(e.data);
    if (!bytes) return void stats.foreign++;
    const from = e.origin;
    if (e.source != (link.peer as unknown)) return reject("wrong-source", from);
    if (host && peerOrigin ? from != peerOrigin : !allow.allows(from)) {
      // The peer window now shows a document we do not talk to: that session is over.
      if (phase == PHASE_CONNECTED && bytes[22] < 5) end("the peer window navigated to " + from);
      return reject("disallowed-origin", from);
    }
    const f = decoded(e.data, bytes, from);
    if (!f) return;
    const [, session, b] = f;
    if (b[0] == 0 && host && (phase == PHASE_HANDSHAKE || phase == PHASE_CONNECTED)) {
      // Knock: the guest is up, or a new document in the peer window.
      if (phase == PHASE_CONNECTED) end("the peer window reloaded");
      hello(from);
    } else if (b[0] == 1 && !host && phase != PHASE_CLOSED) {
      const [, min, most, theirs, limit] = b;
      if (same(theirs, nonce) && phase != PHASE_HANDSHAKE) {
        // A retried hello crossed our welcome: answer it the same way.
        if (phase == PHASE_WELCOMED) welcome();
        return;
      }
      const v = Math.min(hi, most);
      if (v < Math.max(lo, min)) {
        tell(from, [3, 0, lo, hi]);
        return mismatch(min, most);
      }
      if (phase == PHASE_CONNECTED) end("the peer began a new session", true);
      nonce = theirs;
      bind(random(), from, v, limit);
      phase = PHASE_WELCOMED;
      welcome();
      // No ready in time: knock again.
      clearTimeout(retry);
      retry = setTimeout(() => {
        phase = PHASE_HANDSHAKE;
        hail(50);
      }, handshakeTimeout);
    } else if (b[0] == 2 && host) {
      const [, theirs, v, limit] = b;
      if (phase == PHASE_CONNECTED && same(session, sid) && from == origin) return;
      if (phase != PHASE_HANDSHAKE || !same(theirs, nonce)) return reject("stale-handshake", from);
      if (same(session, NO_SESSION)) return reject("wrong-session", from);
      if (v < lo || v > hi) return reject("wrong-version", from);
      bind(session, from, v, limit);
      const { port1, port2 } = new MessageChannel();
      tell(from, [4], v, session, port2);
      open(port1);
    } else if (b[0] == 3 && phase < PHASE_CONNECTED) {
      mismatch(b[2], b[3]);
    } else if (b[0] == 4 && !host) {
      const p = e.ports?.[0];
      if (!p) return reject("unexpected", from);
      if (phase != PHASE_WELCOMED || !same(session, sid) || from != origin) return reject("wrong-session", from);
      open(p);
      return p;
    } else {
      return reject("unexpected", from);
    }
  };

  const welcome = (): void => tell(origin, [2, nonce, version, max], version, sid);

  const mismatch = (min: number, most: number): void =>
    shut(
      `protocol version mismatch: this side supports ${range(lo, hi)}, the peer supports ${range(min, most)}; upgrade the older side`,
    );

  /** Stops the handshake's timers: its retry and its give-up deadline. */
  const calm = (): void => {
    clearTimeout(retry);
    clearTimeout(deadline);
  };

  const open = (p: MessagePort): void => {
    calm();
    port = p;
    p.onmessage = onPort;
    phase = PHASE_CONNECTED;
    heard = Date.now();
    const hb = o.heartbeat;
    if (hb)
      beat = setInterval(() => {
        if (Date.now() - heard > hb.timeout) end(`no answer in ${hb.timeout} ms (heartbeat)`, false, true);
        else send([4]);
      }, hb.interval);
    for (const [ok] of waiters.splice(0)) ok();
    flush();
  };

  /** Ends the session (the connection goes on): fails what waits, drops what is queued, handshakes again. */
  const end = (why: string, answering?: boolean, greet?: boolean): void => {
    drop(new BusError("disconnected", `disconnected: ${why}; retry`));
    ever = true;
    if (answering) {
      // Answering the peer's new hello: no knock, but the same deadline.
      phase = PHASE_HANDSHAKE;
      arm();
    } else start(greet);
  };

  const drop = (error: Error): void => {
    for (const [, p] of pending) {
      clearTimeout(p[2]);
      p[1](error);
    }
    pending.clear();
    for (const [, c] of serving) c.abort(error);
    serving.clear();
    queue = [];
    clearInterval(beat);
    port?.close();
    port = undefined;
  };

  const shut = (why: string): void => {
    if (phase == PHASE_CLOSED) return;
    const error = new BusError("closed", why);
    drop(error);
    phase = PHASE_CLOSED;
    calm();
    clearInterval(watch);
    link.self.removeEventListener("message", onWindow);
    for (const [, no] of waiters.splice(0)) no(error);
    done(why);
  };

  // ---- the session ----

  const onPort = (e: MessageEvent): void => {
    const bytes = frameOf(e.data);
    if (!bytes) return void stats.foreign++;
    const f = decoded(e.data, bytes, origin);
    if (!f) return;
    const [v, session, body] = f;
    if (body[0] != 5 || phase != PHASE_CONNECTED) return reject("unexpected", origin);
    if (!same(session, sid)) return reject("wrong-session", origin);
    if (v != version) return reject("wrong-version", origin);
    const messages = body[1];
    // Attachments arrive only with the frame (never here): an Attach cannot add up.
    if (messages.some((m) => m[0] == 7)) return reject("bad-attachments", origin);
    heard = Date.now();
    let ping = false;
    for (const m of messages) {
      if (phase != PHASE_CONNECTED) return;
      if (m[0] == 0) serve(m[1], m[2], m[3], m[4]);
      else if (m[0] == 1) {
        if (!pending.has(m[1])) reject("unknown-reply", origin);
        else settle(m[1], m[2] ? new RemoteError(m[3], m[4], m[5]) : m[3]);
      } else if (m[0] == 2) {
        for (const l of topics.get(m[1]) ?? []) {
          try {
            l(m[2]);
          } catch (err) {
            console.error(err);
          }
        }
      } else if (m[0] == 3) {
        serving.get(m[1])?.abort(new BusError("cancelled"));
        serving.delete(m[1]);
      } else if (m[0] == 4) ping = true;
      else if (m[0] == 6) return shut("closed by the peer: " + m[1]);
    }
    if (ping) send([5]);
  };

  const serve = (id: bigint, method: string, payload: Uint8Array, timeout?: number): void => {
    if (serving.has(id)) return void reject("duplicate-call", origin);
    const handler = handlers.get(method);
    const fail = (e: RemoteError): void => send([1, id, 1, e.code, e.message, e.data]);
    if (serving.size >= LIMIT) return fail(new RemoteError(OVERLOADED, "overloaded"));
    if (!handler) return fail(new RemoteError(METHOD_NOT_FOUND, `no handler for "${method}"`));
    const c = new AbortController();
    serving.set(id, c);
    const timer = timeout === undefined ? 0 : setTimeout(() => c.abort(), timeout);
    // Whether the caller still waits (not cancelled, not timed out, same session); it is served then.
    const waits = (): boolean => (clearTimeout(timer), serving.get(id) == c && serving.delete(id));
    c.signal.addEventListener("abort", waits);
    new Promise<unknown>((ok) => ok(handler(payload, c.signal))).then(
      (ok) =>
        waits() &&
        (ok instanceof Uint8Array ? send([1, id, 0, ok]) : fail(new RemoteError(INTERNAL, `"${method}" did not answer bytes`))),
      (err) => waits() && fail(err instanceof RemoteError ? err : new RemoteError(INTERNAL, String(err?.message ?? err))),
    );
  };

  /** Settles a pending call; `withdraw` also takes it back from the queue or tells the peer to stop. */
  const settle = (id: bigint, result: Uint8Array | Error, withdraw?: boolean): void => {
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    clearTimeout(p[2]);
    p[result instanceof Error ? 1 : 0](result as never);
    // Connected, the peer is told to stop (a call still queued goes out just before its cancel).
    if (withdraw)
      if (phase == PHASE_CONNECTED) send([3, id]);
      else queue = queue.filter((m) => m[0] || m[1] != id);
  };

  /** Queues a message; what one turn of the event loop sends goes out coalesced. */
  const send = (m: Message): void => {
    if (queue.push(m) == 1 && phase == PHASE_CONNECTED) queueMicrotask(flush);
  };

  /** Sends the queue in frames no longer than the peer accepts. */
  const flush = (): void => {
    if (phase != PHASE_CONNECTED) return;
    const room = peerMax - 26;
    let parts: Uint8Array[] = [];
    let size = 0;
    for (const m of queue.splice(0)) {
      const part = encodeMessage(m);
      if (part.length > room) {
        if (m[0] == 0) settle(m[1], new BusError("too-large", "over the peer's frame limit"));
        else if (m[0] == 1) send([1, m[1], 1, INTERNAL, "over the caller's frame limit"]);
        continue;
      }
      // A new frame past 1024 messages, or once one holds 256 KiB (PROTOCOL.md section 7).
      if (size + part.length > room || parts.length == 1024 || size >= 1 << 18) {
        post(encodePacked(version, sid, parts));
        parts = [];
        size = 0;
      }
      parts.push(part);
      size += part.length;
    }
    if (parts.length) post(encodePacked(version, sid, parts));
  };

  const post = (frame: Uint8Array): void => port?.postMessage(frame, frame.length > 4096 ? [frame.buffer] : []);

  link.self.addEventListener("message", onWindow);
  if (link.gone) watch = setInterval(() => link.gone!() && shut("the peer window is gone"), 250);
  start();

  return {
    get state(): State {
      return phase == PHASE_CONNECTED ? "connected" : phase == PHASE_CLOSED ? "closed" : ever ? "reconnecting" : "connecting";
    },
    stats,
    closed,

    connected: () =>
      phase == PHASE_CONNECTED
        ? Promise.resolve()
        : phase == PHASE_CLOSED
          ? Promise.reject(full())
          : new Promise((ok, no) => void waiters.push([ok, no])),

    call: (method, payload, options = {}) =>
      new Promise((ok, no) => {
        const timeout = options.timeout ?? o.callTimeout ?? 30000;
        const busy = full(pending.size);
        if (busy) return no(busy);
        const id = nextId++;
        const fail = (kind: Failure, why?: string): void => settle(id, new BusError(kind, why), true);
        pending.set(id, [ok, no, setTimeout(() => fail("timeout", `"${method}": no reply in ${timeout} ms`), timeout)]);
        const signal = options.signal;
        if (signal) {
          const abort = (): void => fail("cancelled");
          if (signal.aborted) return abort();
          signal.addEventListener("abort", abort, { once: true });
        }
        send([0, id, method, payload, timeout]);
      }),

    handle(method, handler) {
      handlers.set(method, handler);
      return () => handlers.get(method) == handler && handlers.delete(method);
    },

    emit(topic, payload) {
      const busy = full();
      if (busy) throw busy;
      send([2, topic, payload]);
    },

    on(topic, listener) {
      let set = topics.get(topic);
      if (!set) topics.set(topic, (set = new Set()));
      set.add(listener);
      return () => set.delete(listener);
    },

    close(reason = "closed") {
      if (phase == PHASE_CONNECTED) post(encodePacked(version, sid, [encodeMessage([6, reason])]));
      shut("closed locally: " + reason);
    },
  };
}
