// The connection's protocol behaviour between two windows under node (see
// windows.ts): handshake, calls both ways, events, remote errors,
// cancellation, timeouts, reconnect after a reload, close, version
// mismatch, and hostile input from rogue origins, impostor windows and a
// compromised peer.

import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import {
  BusError,
  type Connection,
  connect,
  INTERNAL,
  METHOD_NOT_FOUND,
  type Options,
  RemoteError,
} from "../src/connection.js";
import { encode, encodePacked, encodeMessage } from "../src/wire.js";
import { TestWindow, bytes, link, sleep, until } from "./windows.js";

const SHOP = "https://shop.example";
const PAY = "https://pay.example";
const EVIL = "https://evil.example";

interface Pair {
  shop: TestWindow;
  pay: TestWindow;
  host: Connection;
  guest: Connection;
}

/** A shop page hosting a pay widget, connected. */
async function pair(hostOptions: Partial<Options> = {}, guestOptions: Partial<Options> = {}): Promise<Pair> {
  const shop = new TestWindow(SHOP);
  const pay = new TestWindow(PAY);
  const host = make("host", link(shop, pay, PAY), { allow: [PAY], ...hostOptions });
  const guest = make("guest", link(pay, shop), { allow: [SHOP], ...guestOptions });
  await Promise.all([host.connected(), guest.connected()]);
  return { shop, pay, host, guest };
}

const end = (...c: Connection[]): void => c.forEach((x) => x.close("test over"));

// Every connection a test makes is closed after it, passed or failed, so
// no port or timer outlives its test.
const made: Connection[] = [];
const make = (...args: Parameters<typeof connect>): Connection => {
  const c = connect(...args);
  made.push(c);
  return c;
};
afterEach(() => made.splice(0).forEach((c) => c.close("test over")));

test("host and guest handshake, and call each other", async () => {
  const { shop, pay, host, guest } = await pair();
  assert.equal(host.state, "connected");
  assert.equal(guest.state, "connected");
  guest.handle("total", (req) => bytes(req[0] * 2));
  host.handle("greet", () => bytes(7));
  assert.deepEqual(await host.call("total", bytes(21)), bytes(42));
  assert.deepEqual(await guest.call("greet", bytes()), bytes(7));
  // Every window post named a concrete origin: never "*".
  assert.ok(shop.targets.length > 0 && pay.targets.length > 0);
  assert.ok([...shop.targets, ...pay.targets].every((t) => t == SHOP || t == PAY), String([...shop.targets, ...pay.targets]));
  end(host, guest);
});

test("many calls in one turn are coalesced, and all answered", async () => {
  const { host, guest } = await pair();
  guest.handle("echo", (req) => req);
  const replies = await Promise.all(Array.from({ length: 500 }, (_, i) => host.call("echo", bytes(i & 255, i >> 8))));
  replies.forEach((r, i) => assert.deepEqual(r, bytes(i & 255, i >> 8)));
  end(host, guest);
});

test("a frame takes no more messages once it holds 256 KiB", async () => {
  const { host, guest } = await pair();
  guest.handle("echo", (req) => req);
  const sizes: number[] = [];
  const post = MessagePort.prototype.postMessage;
  MessagePort.prototype.postMessage = function (this: MessagePort, m: unknown, ...rest: never[]) {
    if (m instanceof Uint8Array) sizes.push(m.length);
    return post.call(this, m, ...rest);
  };
  try {
    // Ten 100 KiB calls in one turn: frames of three (the third crosses 256 KiB), not one of ten.
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => host.call("echo", new Uint8Array(100 << 10).fill(i))));
    replies.forEach((r, i) => assert.equal(r[(100 << 10) - 1], i));
  } finally {
    MessagePort.prototype.postMessage = post;
  }
  const big = sizes.filter((n) => n > 100 << 10);
  // Requests and replies alike: 3 + 3 + 3 + 1 messages each way.
  assert.equal(big.length, 8, String(sizes));
  assert.ok(Math.max(...big) < 3 * (100 << 10) + 1024, String(big));
  end(host, guest);
});

test("events reach every listener of their topic only", async () => {
  const { host, guest } = await pair();
  const got: string[] = [];
  const stop = host.on("cart", (p) => got.push("a" + p[0]));
  host.on("cart", (p) => got.push("b" + p[0]));
  host.on("other", () => got.push("other"));
  guest.emit("cart", bytes(1));
  await until(() => got.length == 2, 2000, "two events");
  stop();
  guest.emit("cart", bytes(2));
  await until(() => got.length == 3, 2000, "one more event");
  assert.deepEqual(got, ["a1", "b1", "b2"]);
  end(host, guest);
});

test("remote errors carry their code, message and data; bus errors theirs", async () => {
  const { host, guest } = await pair();
  guest.handle("pay", () => {
    throw new RemoteError(402, "card declined", bytes(30));
  });
  guest.handle("boom", () => {
    throw new Error("kaput");
  });
  guest.handle("nothing", () => "text" as unknown as Uint8Array);
  const err = await host.call("pay", bytes()).catch((e) => e);
  assert.ok(err instanceof RemoteError);
  assert.equal(err.code, 402);
  assert.equal(err.message, "card declined");
  assert.deepEqual(err.data, bytes(30));
  const missing = await host.call("nope", bytes()).catch((e) => e);
  assert.equal(missing.code, METHOD_NOT_FOUND);
  assert.match(missing.message, /nope/);
  const boom = await host.call("boom", bytes()).catch((e) => e);
  assert.equal(boom.code, INTERNAL);
  assert.equal(boom.message, "kaput");
  assert.equal((await host.call("nothing", bytes()).catch((e) => e)).code, INTERNAL);
  end(host, guest);
});

test("a call times out, and its handler is told to stop", async () => {
  const { host, guest } = await pair();
  let aborted = false;
  guest.handle("slow", (_req, signal) => new Promise(() => signal.addEventListener("abort", () => (aborted = true))));
  const err = await host.call("slow", bytes(), { timeout: 50 }).catch((e) => e);
  assert.ok(err instanceof BusError);
  assert.equal(err.kind, "timeout");
  await until(() => aborted, 2000, "the handler's abort");
  end(host, guest);
});

test("a cancelled call rejects at once, and its handler stops without answering", async () => {
  const { host, guest } = await pair();
  let started = false;
  let aborted = false;
  guest.handle("slow", (_req, signal) => {
    started = true;
    return new Promise((ok) =>
      signal.addEventListener("abort", () => {
        aborted = true;
        ok(bytes(1));
      }),
    );
  });
  const c = new AbortController();
  const call = host.call("slow", bytes(), { signal: c.signal });
  await until(() => started, 2000, "the handler");
  c.abort();
  assert.equal((await call.catch((e) => e)).kind, "cancelled");
  await until(() => aborted, 2000, "the handler's abort");
  await sleep(30);
  // The answer the aborted handler gave was not sent: nothing unknown arrived.
  assert.deepEqual(host.stats.rejected, {});
  end(host, guest);
});

test("the guest reloads: pending calls fail as disconnected, the new document connects", async () => {
  const { shop, pay, host, guest } = await pair();
  guest.handle("slow", () => new Promise(() => {}));
  const pending = host.call("slow", bytes());
  await sleep(20);
  // The widget's document goes away without a word, and a new one loads.
  pay.unload();
  pay.port!.close();
  const reloaded = make("guest", link(pay, shop), { allow: [SHOP] });
  reloaded.handle("total", (req) => bytes(req[0] + 1));
  const err = await pending.catch((e) => e);
  assert.ok(err instanceof BusError);
  assert.equal(err.kind, "disconnected");
  await reloaded.connected();
  await until(() => host.state == "connected", 2000, "the host's new session");
  assert.deepEqual(await host.call("total", bytes(1)), bytes(2));
  end(host, reloaded);
  guest.close();
});

test("close tells the peer why, and neither reconnects", async () => {
  const { host, guest } = await pair();
  guest.close("checkout done");
  assert.equal(await host.closed, "closed by the peer: checkout done");
  assert.equal(await guest.closed, "closed locally: checkout done");
  assert.equal(host.state, "closed");
  assert.equal((await host.call("x", bytes()).catch((e) => e)).kind, "closed");
  assert.throws(() => host.emit("t", bytes()), BusError);
});

test("a version mismatch closes both sides, naming both ranges", async () => {
  const shop = new TestWindow(SHOP);
  const pay = new TestWindow(PAY);
  const host = make("host", link(shop, pay, PAY), { allow: [PAY] });
  const guest = make("guest", link(pay, shop), { allow: [SHOP], versions: { min: 2, max: 3 } });
  const [h, g] = await Promise.all([host.closed, guest.closed]);
  assert.equal(h, "protocol version mismatch: this side supports v1, the peer supports v2..=v3; upgrade the older side");
  assert.equal(g, "protocol version mismatch: this side supports v2..=v3, the peer supports v1; upgrade the older side");
  await assert.rejects(host.connected(), BusError);
});

test("no peer: the first handshake gives up and says what to check", async () => {
  const shop = new TestWindow(SHOP);
  const pay = new TestWindow(PAY);
  const guest = make("guest", link(pay, shop), { allow: [SHOP], handshakeTimeout: 200 });
  assert.match(await guest.closed, /no handshake in 200 ms: does the peer run the bus and allow this origin\?/);
});

test("a rogue origin and an impostor window are refused, and the session holds", async () => {
  const { shop, pay, host, guest } = await pair();
  const evil = new TestWindow(EVIL);
  const impostor = new TestWindow(PAY);
  const seen: string[] = [];
  const guest2 = guest;
  guest2.handle("total", () => bytes(1));
  const knock = encode([1, new Uint8Array(16), [0, 1, 1]]);
  const hello = encode([1, new Uint8Array(16), [1, 1, 1, new Uint8Array(16).fill(9), 1 << 20]]);
  // A rogue page posts a knock to the shop, and a hello to the widget.
  shop.seenBy(evil).postMessage(knock, SHOP);
  pay.seenBy(evil).postMessage(hello, PAY);
  // Another window of the widget's own origin is not the widget.
  shop.seenBy(impostor).postMessage(knock, SHOP);
  // Other libraries' traffic is foreign, not a rejection.
  shop.seenBy(pay).postMessage({ type: "penpal" }, SHOP);
  shop.seenBy(pay).postMessage("hi", SHOP);
  await until(() => (host.stats.rejected["wrong-source"] ?? 0) >= 2 && guest.stats.rejected["wrong-source"] == 1, 2000, "rejections");
  await until(() => host.stats.foreign == 2, 2000, "foreign");
  assert.equal(host.state, "connected");
  assert.equal(guest.state, "connected");
  assert.deepEqual(await host.call("total", bytes()), bytes(1));
  void seen;
  end(host, guest);
});

test("a host whose iframe is from an allowed origin talks to that origin only", async () => {
  const shop = new TestWindow(SHOP);
  const other = new TestWindow("https://other.pay.example");
  const rejected: string[] = [];
  const host = make("host", link(shop, other, PAY), {
    allow: [PAY, "https://*.pay.example"],
    onReject: (label, origin) => rejected.push(`${label} ${origin}`),
  });
  const guest = make("guest", link(other, shop), { allow: [SHOP], handshakeTimeout: 300 });
  assert.match(await guest.closed, /no handshake/);
  assert.ok(rejected.includes("disallowed-origin https://other.pay.example"), String(rejected));
  host.close();
});

test("a compromised peer on the port: wrong session, bad bytes, oversize and replies to nothing are refused", async () => {
  const { pay, host, guest } = await pair({ maxFrameBytes: 1536 });
  const sid = pay.session!;
  const other = new Uint8Array(16).fill(3);
  const post = (frame: Uint8Array | unknown): void => pay.port!.postMessage(frame);
  post(encodePacked(1, other, [encodeMessage([4])]));
  post(encodePacked(2, sid, [encodeMessage([4])]));
  post(encodePacked(1, sid, [encodeMessage([1, 99n, 0, bytes()])]));
  post(encodePacked(1, sid, [new Uint8Array([9])]));
  post(encodePacked(1, sid, [encodeMessage([2, "t", new Uint8Array(2000)])]));
  post(encode([1, sid, [5, Array(1025).fill([4])]]));
  post(encode([1, sid, [0, 1, 1]]));
  post(encodePacked(1, sid, [encodeMessage([7, 1]), encodeMessage([2, "t", bytes()])]));
  post([encodePacked(1, sid, [encodeMessage([4])]), bytes(1)]);
  post(encodePacked(1, sid, [encodeMessage([0, 5n, "slow", bytes()])]));
  post(encodePacked(1, sid, [encodeMessage([0, 5n, "slow", bytes()])]));
  post({ not: "ours" });
  host.handle("slow", () => new Promise(() => {}));
  await until(() => host.stats.foreign == 1, 2000, "the last message");
  await sleep(20);
  assert.deepEqual(host.stats.rejected, {
    "wrong-session": 1,
    "wrong-version": 1,
    "unknown-reply": 1,
    malformed: 1,
    "too-large": 1,
    "too-many-messages": 1,
    unexpected: 1,
    "bad-attachments": 2,
    "duplicate-call": 1,
  });
  assert.equal(host.state, "connected");
  end(host, guest);
});

test("frames are split to the peer's limit; a message over it fails locally", async () => {
  const { host, guest } = await pair({ maxFrameBytes: 256 });
  guest.handle("echo", (r) => r);
  host.handle("echo", (r) => r);
  const small = await Promise.all(Array.from({ length: 50 }, (_, i) => guest.call("echo", new Uint8Array(100).fill(i))));
  small.forEach((r, i) => assert.equal(r[0], i));
  const err = await guest.call("echo", new Uint8Array(300)).catch((e) => e);
  assert.equal(err.kind, "too-large");
  // The host's answer too large for... itself is fine; a big answer to a small peer is not:
  const fine = await host.call("echo", new Uint8Array(200));
  assert.equal(fine.length, 200);
  end(host, guest);
});

test("the heartbeat ends a silent session; the connection waits for the peer", async () => {
  const { pay, host, guest } = await pair({ heartbeat: { interval: 20, timeout: 100 } });
  const slow = host.call("never", bytes()).catch((e) => e);
  // The widget freezes: nothing it receives is answered.
  pay.unload();
  pay.port!.onmessage = null;
  pay.port!.close();
  const err = await slow;
  assert.ok(err.kind == "disconnected" || err.code == METHOD_NOT_FOUND, String(err));
  await until(() => host.state == "reconnecting", 2000, "the heartbeat to end the session");
  end(host, guest);
});

test("options are checked: an empty allowlist or a peer outside it is refused with what to do", () => {
  const shop = new TestWindow(SHOP);
  const pay = new TestWindow(PAY);
  assert.throws(() => connect("host", link(shop, pay, PAY), { allow: [] }), /empty allowlist/);
  assert.throws(() => connect("host", link(shop, pay, PAY), { allow: [EVIL] }), /not in the allowlist.*add it/);
  assert.throws(() => connect("host", link(shop, pay, PAY), { allow: ["https://*.com"] }), /public-suffix.*a domain you own/);
});

test("served and settled calls leave no timer behind", async () => {
  const { host, guest } = await pair();
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r == "Timeout").length;
  guest.handle("quick", (r) => r);
  guest.handle("fails", () => {
    throw new RemoteError(1, "no");
  });
  await sleep(10);
  const before = timers();
  for (let i = 0; i < 20; i++) {
    await host.call("quick", bytes(i));
    await host.call("fails", bytes()).catch(() => {});
  }
  await sleep(10);
  assert.equal(timers(), before);
  end(host, guest);
});

test("a guest with wildcard entries only never posts to \"*\"; with the opaque opt-in it may", async () => {
  const shop = new TestWindow(SHOP);
  const pay = new TestWindow(PAY);
  make("guest", link(pay, shop), { allow: ["https://*.shop.example"] });
  await sleep(200);
  assert.deepEqual(shop.targets, []);
  const sandboxed = new TestWindow("null");
  make("guest", link(pay, sandboxed), { allow: ["https://*.shop.example"], allowOpaqueOrigins: true });
  await sleep(100);
  assert.ok(sandboxed.targets.length > 0 && sandboxed.targets.every((t) => t == "*"), String(sandboxed.targets));
});

test("a guest answering a restarted host's hello gives up after reconnectTimeout when no Ready comes", async () => {
  const { shop, pay, guest } = await pair({}, { reconnectTimeout: 300, handshakeTimeout: 5000 });
  // The host's document goes silent and a new hello (a restarted host) arrives; no Ready follows.
  shop.listeners.clear();
  const hello = encode([1, new Uint8Array(16), [1, 1, 1, new Uint8Array(16).fill(9), 65536]]);
  pay.seenBy(shop).postMessage(hello, PAY);
  await until(() => guest.state == "closed", 2000, "the guest to give up");
  assert.match(await guest.closed, /no new session in 300 ms \(reconnectTimeout\)/);
});
