// The child side of every contender: echo what comes in, transferring
// ArrayBuffers back when they were transferred in.
import * as penpal from "/npm/penpal.mjs";
import * as Comlink from "/npm/comlink.mjs";
import { watchPorts, wrapPort } from "/probe.js";

const q = new URLSearchParams(location.search);
const contender = q.get("contender");
const PARENT = q.get("parent");
document.getElementById("who").textContent = `${contender} child @ ${location.origin}`;
const back = (p) => (p instanceof ArrayBuffer ? [p] : []);

switch (contender) {
  case "raw-window":
    addEventListener("message", (ev) => {
      if (ev.origin !== PARENT || !ev.data || ev.data.id === undefined) return;
      ev.source.postMessage(ev.data, ev.origin, back(ev.data.p));
    });
    break;
  case "raw-port":
    addEventListener("message", (ev) => {
      if (ev.origin !== PARENT || !ev.data || !ev.data.hello) return;
      const port = ev.ports[0];
      port.onmessage = (m) => port.postMessage(m.data, back(m.data.p));
    });
    break;
  case "wasm-floor": {
    // bench-app's floor.rs: the raw port's echo, through wasm.
    const ready = import("/wasm/bench-app.js").then(async (bus) => {
      await bus.default({ module_or_path: "/wasm/bench-app_bg.wasm" });
      return bus;
    });
    // Listening before the wasm is ready: the port may come first.
    addEventListener("message", async (ev) => {
      if (ev.origin === PARENT && ev.data && ev.data.hello) (await ready).floor_child(ev.ports[0]);
    });
    break;
  }
  case "penpal": {
    const messenger = new penpal.WindowMessenger({ remoteWindow: parent, allowedOrigins: [PARENT] });
    penpal.connect({
      messenger,
      methods: { echo: (p) => (p instanceof ArrayBuffer ? new penpal.Reply(p, { transferables: [p] }) : p) },
    });
    break;
  }
  case "comlink":
    Comlink.expose(
      { echo: (p) => (p instanceof ArrayBuffer ? Comlink.transfer(p, [p]) : p) },
      Comlink.windowEndpoint(parent, self, PARENT),
      [PARENT],
    );
    break;
  case "bus-js": {
    // The TypeScript peer: echoes each method's request bytes as its reply.
    const { connectParent } = await import("/npm/wbus.mjs");
    const conn = connectParent({ allow: [PARENT] });
    for (const m of ["bench.small", "bench.text", "bench.bytes"]) conn.handle(m, (request) => request);
    break;
  }
  case "bus": {
    // The child half of the latency breakdown (see bench.js): from a frame's
    // arrival on the bus's port to the reply leaving it, and the part spent
    // synchronously in the bus's onmessage. Summed only between the bench
    // page's "start" and "report" (its probed pass), then sent to it.
    const c = { frames: 0, toReply: 0, inHandler: 0, arrived: 0 };
    watchPorts((port, fn) => Object.assign(c, { port, handler: fn }));
    const onPost = () => {
      if (c.arrived) {
        c.toReply += performance.now() - c.arrived;
        c.frames++;
        c.arrived = 0;
      }
    };
    const onEvent = () => {
      c.t = performance.now();
      if (!c.arrived) c.arrived = c.t;
    };
    const afterEvent = () => { c.inHandler += performance.now() - c.t; };
    addEventListener("message", (e) => {
      if (e.origin !== PARENT || !e.data) return;
      if (e.data.benchChildProbe === "start") {
        Object.assign(c, { frames: 0, toReply: 0, inHandler: 0, arrived: 0 });
        c.unwrap = wrapPort(c.port, c.handler, onPost, onEvent, afterEvent);
        parent.postMessage({ benchChildProbe: { started: true } }, PARENT);
      }
      if (e.data.benchChildProbe === "report") {
        c.unwrap?.();
        const { frames, toReply, inHandler } = c;
        parent.postMessage({ benchChildProbe: { frames, toReply, inHandler } }, PARENT);
      }
    });
    const bus = await import("/wasm/bench-app.js");
    await bus.default({ module_or_path: "/wasm/bench-app_bg.wasm" });
    bus.bus_child(PARENT);
    break;
  }
}
