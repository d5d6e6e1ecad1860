// The harness: every contender is timed by this same code, interleaved
// batch by batch in one run. `window.runBench()` returns the results.
import initBus, * as bus from "/wasm/bench-app.js";
import * as penpal from "/npm/penpal.mjs";
import * as Comlink from "/npm/comlink.mjs";
import { watchPorts, wrapPort } from "/probe.js";

const q = new URLSearchParams(location.search);
const CHILD = q.get("child");
const BATCHES = Number(q.get("batches") || 30);
const BATCH = Number(q.get("batch") || 100);
// Untimed batches per contender before the timed ones, so that each is
// measured warm: V8 optimises hot JavaScript and WebAssembly only after
// some thousands of calls.
const WARMUP = Number(q.get("warmup") || 5);
const logEl = document.getElementById("log");
const log = (s) => { logEl.textContent += s + "\n"; console.log(s); };

function frame(contender) {
  const f = document.createElement("iframe");
  f.id = contender;
  f.src = `${CHILD}/child.html?contender=${contender}&parent=${encodeURIComponent(location.origin)}`;
  document.getElementById("frames").appendChild(f);
  return new Promise((resolve) => f.addEventListener("load", () => resolve(f), { once: true }));
}

// A call that is matched to its answer by id (raw window and raw port).
function correlated(send, target) {
  const pending = new Map();
  let next = 0;
  target.addEventListener("message", (ev) => {
    const d = ev.data;
    if (!d || d.id === undefined) return;
    const resolve = pending.get(d.id);
    if (resolve) { pending.delete(d.id); resolve(d.p); }
  });
  return (p, transfer) => new Promise((resolve) => {
    const id = next++;
    pending.set(id, resolve);
    send({ id, p }, transfer ? [p] : []);
  });
}

const SMALL = { a: 1, b: 2, c: 3.5 };
const payloads = {
  "small": () => SMALL,
  "1KiB": () => "x".repeat(1024),
  "64KiB": (() => { const b = new Uint8Array(65536).fill(7); return () => b; })(),
  "64KiB-transfer": () => new ArrayBuffer(65536),
  "1MiB": (() => { const b = new Uint8Array(1 << 20).fill(9); return () => b; })(),
};

// Where a bus round trip spends its time, for small calls made one at a
// time: the bus's private MessagePort is the one whose `onmessage` the
// bus sets, so timestamps are taken where its frames leave and arrive.
// Sums over many calls: performance.now() is coarse, its mean is not.
// The probe runs in a pass of its own after the timed batches (`probed`),
// in this page and in the bus child, and wraps the bus's port only then:
// its timestamps, its wrappers and the async wrapper around each call would
// otherwise slow the bus's timed calls and no other contender's.
const probe = { calls: 0, send: 0, receive: 0, wire: 0, child: null, t0: 0, tPost: 0, tEvent: 0 };
{
  // Only the Rust bus's port: wbus, set up later, sets onmessage too.
  watchPorts((port, fn) => { if (probe.binding) Object.assign(probe, { port, handler: fn }); });
  addEventListener("message", (e) => {
    if (e.data && e.data.benchChildProbe && probe.childReport) probe.childReport(e.data.benchChildProbe);
  });
}
// Tells the bus child to start its sums ("start"; resolves when it has) or
// to stop and send them ("report"; resolves to them).
function childProbe(frame, what) {
  return new Promise((resolve) => {
    probe.childReport = resolve;
    frame.contentWindow.postMessage({ benchChildProbe: what }, CHILD);
    setTimeout(() => resolve(null), 2000);
  });
}
async function probedSmall(p) {
  probe.t0 = performance.now();
  const r = await bus.bus_small(p.a, p.b, p.c);
  const end = performance.now();
  probe.calls++;
  probe.send += probe.tPost - probe.t0;
  probe.wire += probe.tEvent - probe.tPost;
  probe.receive += end - probe.tEvent;
  return r;
}

// The probed pass: `n` small bus calls one at a time, timed in parts on
// both sides; resolves to the child's sums.
async function probed(n) {
  await childProbe(probe.frame, "start");
  const unwrap = wrapPort(
    probe.port,
    probe.handler,
    () => { probe.tPost = performance.now(); },
    () => { probe.tEvent = performance.now(); },
  );
  for (let i = 0; i < n; i++) await probedSmall(SMALL);
  unwrap();
  return childProbe(probe.frame, "report");
}

async function setup() {
  const c = {};
  const fw = await frame("raw-window");
  {
    const w = fw.contentWindow;
    const call = correlated((m, t) => w.postMessage(m, CHILD, t), window);
    c["raw-window"] = { call: (name, p) => call(p, name === "64KiB-transfer") };
  }
  const fp = await frame("raw-port");
  {
    const ch = new MessageChannel();
    fp.contentWindow.postMessage({ hello: true }, CHILD, [ch.port2]);
    ch.port1.start();
    const call = correlated((m, t) => ch.port1.postMessage(m, t), ch.port1);
    c["raw-port"] = { call: (name, p) => call(p, name === "64KiB-transfer") };
  }
  const fpb = await frame("raw-port");
  {
    // The floor for any protocol that frames its messages as bytes: the raw
    // port echoing a 40-byte Uint8Array, cloned, as the bus posts a small
    // call. Only for the small payload.
    const ch = new MessageChannel();
    fpb.contentWindow.postMessage({ hello: true }, CHILD, [ch.port2]);
    const waiting = [];
    ch.port1.onmessage = (m) => waiting.shift()(m.data);
    const bytes = new Uint8Array(40).fill(7);
    c["raw-port-bytes"] = {
      only: "small",
      call: () => new Promise((resolve) => {
        waiting.push(resolve);
        ch.port1.postMessage(bytes.slice());
      }),
    };
  }
  const fb = await frame("bus");
  probe.frame = fb;
  await initBus({ module_or_path: "/wasm/bench-app_bg.wasm" });
  probe.binding = true;
  await bus.bus_parent(fb, CHILD);
  probe.binding = false;
  const ff = await frame("wasm-floor");
  {
    // The floor for a bus in Rust/wasm (bench-app's floor.rs): the same
    // 40-byte echo as raw-port-bytes, through wasm on both sides and awaited
    // as a Rust future, with no protocol. Only for the small payload.
    const ch = new MessageChannel();
    ff.contentWindow.postMessage({ hello: true }, CHILD, [ch.port2]);
    bus.floor_parent(ch.port1);
    c["wasm-floor"] = { only: "small", call: (_name, p) => bus.floor_small(p.a, p.b, p.c) };
    // The same, with each batch's calls made and awaited in Rust, as a Rust
    // app makes them: no promise bridge per call (and no calls in flight).
    c["wasm-floor-in-rust"] = { only: "small", batch: (n) => bus.floor_small_batch(n) };
  }
  c["bus"] = {
    call: (name, p) => {
      if (name === "small") return bus.bus_small(p.a, p.b, p.c);
      if (name === "1KiB") return bus.bus_text(p);
      if (p instanceof ArrayBuffer) return bus.bus_buffer(new Uint8Array(p));
      return bus.bus_bytes(p);
    },
  };
  // The bus as a Rust app calls it: each batch's calls made and awaited in
  // Rust (bench-app's bus_small_batch), with no promise bridge per call.
  c["bus-in-rust"] = { only: "small", batch: (n) => bus.bus_small_batch(n) };
  const fpp = await frame("penpal");
  {
    const messenger = new penpal.WindowMessenger({ remoteWindow: fpp.contentWindow, allowedOrigins: [CHILD] });
    const remote = await penpal.connect({ messenger, methods: {} }).promise;
    c["penpal"] = {
      call: (name, p) => name === "64KiB-transfer"
        ? remote.echo(p, new penpal.CallOptions({ transferables: [p] }))
        : remote.echo(p),
    };
  }
  const fc = await frame("comlink");
  {
    const remote = Comlink.wrap(Comlink.windowEndpoint(fc.contentWindow, self, CHILD));
    c["comlink"] = {
      call: (name, p) => name === "64KiB-transfer" ? remote.echo(Comlink.transfer(p, [p])) : remote.echo(p),
    };
  }
  // The TypeScript peer (wbus) as host: to a wbus widget, and to the Rust
  // widget above (the same methods). Payloads are postcard, as the Rust
  // bench-app's types encode them; wbus has no transfer list, so
  // 64KiB-transfer goes as copied bytes.
  const { connectIframe } = await import("/npm/wbus.mjs");
  for (const [name, child] of [["bus-js", "bus-js"], ["bus-js-rust", "bus"]]) {
    const conn = connectIframe(await frame(child), { allow: [CHILD] });
    await conn.connected();
    c[name] = { call: (payload, p) => wbusCall(conn, payload, p) };
  }
  return c;
}

// postcard for bench-app's Small { a: u32, b: u32, c: f64 }, String and Bytes.
const utf8 = new TextEncoder();
const text = new TextDecoder();
function varint(out, v) {
  for (; v > 127; v >>>= 7) out.push((v & 127) | 128);
  out.push(v);
}
function readVarint(b, at) {
  let v = 0, s = 0, x;
  do { x = b[at.i++]; v |= (x & 127) << s; s += 7; } while (x & 128);
  return v >>> 0;
}
function withLength(bytes) {
  const head = [];
  varint(head, bytes.length);
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head);
  out.set(bytes, head.length);
  return out;
}
function blob(r) {
  const at = { i: 0 };
  const n = readVarint(r, at);
  return r.subarray(at.i, at.i + n);
}
function wbusCall(conn, name, p) {
  if (name === "small") {
    const head = [];
    varint(head, p.a);
    varint(head, p.b);
    const out = new Uint8Array(head.length + 8);
    out.set(head);
    new DataView(out.buffer).setFloat64(head.length, p.c, true);
    return conn.call("bench.small", out).then((r) => {
      const at = { i: 0 };
      readVarint(r, at);
      readVarint(r, at);
      return new DataView(r.buffer, r.byteOffset).getFloat64(at.i, true);
    });
  }
  if (name === "1KiB") return conn.call("bench.text", withLength(utf8.encode(p))).then((r) => text.decode(blob(r)));
  return conn.call("bench.bytes", withLength(p instanceof ArrayBuffer ? new Uint8Array(p) : p)).then(blob);
}

async function batch(c, name, n) {
  if (c.batch) return c.batch(n); // timed in wasm, the same way

  const make = payloads[name];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await c.call(name, make());
  return ((performance.now() - t0) / n) * 1000; // µs per round trip
}

async function inFlight(c, name, total, window) {
  const make = payloads[name];
  let sent = 0, done = 0;
  const t0 = performance.now();
  await new Promise((resolve) => {
    const pump = () => {
      if (done === total) return resolve();
      while (sent < total && sent - done < window) {
        sent++;
        c.call(name, make()).then(() => { done++; pump(); });
      }
    };
    pump();
  });
  return total / ((performance.now() - t0) / 1000);
}

// 100 calls in flight, the median of three trials: one trial is a few
// hundred milliseconds, and a single one swung by a third between runs.
async function medianInFlight(c, name, total) {
  const trials = [];
  for (let i = 0; i < 3; i++) trials.push(await inFlight(c, name, total, 100));
  return pct(trials, 50);
}

// What the parts of a bus round trip cost in this page, each timed over many
// runs (µs each): the promise bridge of an async export, one more microtask
// (the coalescing flush), and a 40-byte frame's copy out of and into wasm.
async function costs() {
  const N = 20000;
  const per = (t0) => ((performance.now() - t0) / N) * 1000;
  let t0 = performance.now();
  for (let i = 0; i < N; i++) await Promise.resolve();
  const jsAwait = per(t0);
  t0 = performance.now();
  for (let i = 0; i < N; i++) await bus.cost_ready();
  const bridge = per(t0);
  t0 = performance.now();
  for (let i = 0; i < N; i++) await bus.cost_one_microtask();
  const microtask = per(t0) - bridge;
  t0 = performance.now();
  bus.cost_frame_out(N);
  const frameOut = per(t0);
  t0 = performance.now();
  bus.cost_frame_in(new Uint8Array(40).fill(7), N);
  const frameIn = per(t0);
  const engine = bus.cost_engine(N);
  return {
    engine_round_trip_us: engine,
    promise_bridge_us: bridge - jsAwait,
    microtask_us: microtask,
    frame_out_us: frameOut,
    frame_in_us: frameIn,
  };
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };

// The WebSocket round trip, to the bench's server (`?ws=ws://host:port`, a
// release build of bus-server's `bench_echo` example): the bus
// (`connect_websocket` to `/bus`, the same small call as the widget's) against
// a raw WebSocket echoing a 40-byte binary message (`/echo`), interleaved
// batch by batch.
async function websocketBench() {
  const base = q.get("ws");
  if (!base) throw new Error("the bench page needs ?ws=ws://host:port, its WebSocket server (cargo xtask bench starts it)");
  const raw = new WebSocket(`${base}/echo`);
  raw.binaryType = "arraybuffer";
  await new Promise((ok, no) => { raw.onopen = ok; raw.onerror = () => no(new Error("the raw echo socket did not open")); });
  const waiting = [];
  raw.onmessage = (m) => waiting.shift()(m.data);
  const bytes = new Uint8Array(40).fill(7);
  const contenders = {
    "raw-ws": () => new Promise((resolve) => { waiting.push(resolve); raw.send(bytes); }),
    "bus-ws": () => bus.bus_ws_small(1, 2, 3.5),
  };
  await bus.bus_ws_connect(`${base}/bus`, base.replace(/^ws/, "http"));
  const timed = async (call, n) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await call();
    return ((performance.now() - t0) / n) * 1000;
  };
  const samples = { "raw-ws": [], "bus-ws": [] };
  for (const n of Object.keys(contenders)) await timed(contenders[n], BATCH); // warm up
  for (let b = 0; b < BATCHES; b++) {
    for (const n of Object.keys(contenders)) samples[n].push(await timed(contenders[n], BATCH));
  }
  raw.close();
  const out = {};
  for (const n of Object.keys(contenders)) {
    const mean = samples[n].reduce((a, x) => a + x, 0) / samples[n].length;
    out[n] = { rtt_p50_us: pct(samples[n], 50), rtt_p90_us: pct(samples[n], 90), calls_per_sec: 1e6 / mean };
  }
  return out;
}

// Frames loaded and every contender connected; `runBench` sets up first if
// this was not called (a profiler starts after it, to leave setup out).
let ready;
window.setupBench = () => (ready ??= setup()).then(() => true);

// `?contenders=bus,raw-port` runs only those (for profiling one path);
// `?websocket=0`, `?costs=0`, `?probe=0` (the probed pass) and `?inflight=0`
// (the trials with 100 calls in flight) leave those sections out.
window.runBench = async () => {
  const contenders = await (ready ??= setup());
  const wanted = q.get("contenders")?.split(",");
  const unknown = wanted?.filter((n) => !contenders[n]);
  if (unknown?.length) throw new Error(`no contender ${unknown.join(", ")}: choose from ${Object.keys(contenders).join(", ")}`);
  const names = Object.keys(contenders).filter((n) => !wanted || wanted.includes(n));
  const runs = (payload) => names.filter((n) => !contenders[n].only || contenders[n].only === payload);
  const results = [];
  const only = q.get("only");
  for (const payload of only ? only.split(",") : Object.keys(payloads)) {
    const big = payload === "1MiB";
    const perBatch = big ? Math.max(10, BATCH / 10) : BATCH;
    const here = runs(payload);
    const samples = Object.fromEntries(here.map((n) => [n, []]));
    for (let w = 0; w < WARMUP; w++) for (const n of here) await batch(contenders[n], payload, perBatch);
    for (let b = 0; b < BATCHES; b++) {
      for (const n of here) samples[n].push(await batch(contenders[n], payload, perBatch));
    }
    if (payload === "small" && here.includes("bus") && q.get("probe") !== "0") probe.child = await probed(BATCHES * BATCH);
    for (const n of here) {
      const mean = samples[n].reduce((a, x) => a + x, 0) / samples[n].length;
      const total = big ? 100 : payload.startsWith("64KiB") ? 1000 : 3000;
      results.push({
        contender: n,
        payload,
        rtt_p50_us: pct(samples[n], 50),
        rtt_p90_us: pct(samples[n], 90),
        calls_per_sec: 1e6 / mean,
        calls_per_sec_100_in_flight: q.get("inflight") === "0" || !contenders[n].call ? null : await medianInFlight(contenders[n], payload, total),
        batches: samples[n].length,
        calls_per_batch: perBatch,
      });
    }
    log(`${payload}: done`);
  }
  const us = (total, n) => (n ? (total / n) * 1000 : null);
  const child = probe.child || {};
  const breakdown = {
    calls: probe.calls,
    parent_send_us: us(probe.send, probe.calls),
    parent_receive_us: us(probe.receive, probe.calls),
    wire_and_child_us: us(probe.wire, probe.calls),
    child_frame_to_reply_us: us(child.toReply || 0, child.frames),
    child_in_onmessage_us: us(child.inHandler || 0, child.frames),
  };
  const websocket = q.get("websocket") === "0" ? null : await websocketBench();
  if (websocket) log("websocket: done");
  const parts = q.get("costs") === "0" ? null : await costs();
  return { results, websocket, latency_breakdown: breakdown, costs: parts, user_agent: navigator.userAgent, date: new Date().toISOString() };
};
window.benchReady = true;
