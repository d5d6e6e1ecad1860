// The TypeScript bus-ts generates (test/generated/kitchen.ts) against the
// postcard bytes Rust wrote for the same values (kitchen.json): every format
// decodes to what Rust meant and encodes back byte for byte, through the
// codecs and through the typed Api between two connected windows.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { afterEach, test } from "node:test";
import { BAD_REQUEST, type Connection, connect, RemoteError } from "../src/connection.js";
import { Api, Everything, type Shape } from "./generated/kitchen.js";
import { TestWindow, link } from "./windows.js";

const vectors: { what: string; hex: string }[] = JSON.parse(
  readFileSync(new URL("../../test/generated/kitchen.json", import.meta.url), "utf8"),
);
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
const vector = (what: string, n = 0): Uint8Array => unhex(vectors.filter((v) => v.what == what)[n].hex);

test("every format decodes to what Rust wrote and encodes back to the same bytes", () => {
  const rust = vector("Everything");
  const v = Everything.decode(rust);
  assert.equal(v.flag, true);
  assert.equal(v.tiny, 255);
  assert.equal(v.small, -128);
  assert.equal(v.short, 65535);
  assert.equal(v.word, 2 ** 32 - 1);
  assert.equal(v.negative, -(2 ** 31));
  assert.equal(v.long, 2n ** 64n - 1n);
  assert.equal(v.signed_long, -(2n ** 63n));
  assert.equal(v.huge, 2n ** 128n - 1n);
  assert.equal(v.signed_huge, -(2n ** 127n));
  assert.equal(v.ratio, 1.5);
  assert.equal(v.precise, -0.1);
  assert.equal(v.letter, "ß");
  assert.equal(v.name, "zoë ✓");
  assert.deepEqual(v.blob, new Uint8Array([0, 1, 254, 255]));
  assert.equal(v.maybe, 300);
  assert.equal(v.nothing, null);
  const shapes: Shape[] = [
    { tag: "Dot" },
    { tag: "Circle", value: 0.25 },
    { tag: "Rect", value: [1, 65535] },
    { tag: "Label", value: { text: "hi", bold: true } },
  ];
  assert.deepEqual(v.list, shapes);
  assert.deepEqual(v.table, new Map([["a", -1n], ["b", 2n ** 63n - 1n]]));
  assert.deepEqual(v.tuple, [7, "seven", false]);
  assert.deepEqual(v.array, [1, 300, 65535]);
  assert.equal(v.unit, null);
  assert.equal(v.meters, 1e300);
  assert.deepEqual(v.pair, [-300, ""]);
  assert.equal(v["kebab-case"], 42);
  assert.equal(hex(Everything.encode(v)), hex(rust));
  const other = vector("Everything", 1);
  assert.equal(hex(Everything.encode(Everything.decode(other))), hex(other));
});

test("bad bytes and out-of-range values are RangeErrors, never a hang or a wrong value", () => {
  const rust = vector("Everything");
  for (let cut = 0; cut < rust.length; cut++) assert.throws(() => Everything.decode(rust.subarray(0, cut)), RangeError);
  // A bool that is 2, a varint too long for a u16.
  assert.throws(() => Everything.decode(new Uint8Array([2])), /not a bool/);
  assert.throws(() => Everything.decode(unhex("01ff80ffffff03")), /varint over 16 bits/);
  const v = Everything.decode(rust);
  assert.throws(() => Everything.encode({ ...v, word: 2 ** 32 }), /does not fit in u32/);
  assert.throws(() => Everything.encode({ ...v, small: 1.5 }), /not an integer/);
  assert.throws(() => Everything.encode({ ...v, letter: "ab" }), /not one character/);
  assert.throws(() => Everything.encode({ ...v, array: [1, 2] }), /3 are expected/);
});

const made: Connection[] = [];
afterEach(() => made.splice(0).forEach((c) => c.close("test over")));

async function pair(): Promise<[Connection, Connection]> {
  const shop = new TestWindow("https://shop.example");
  const pay = new TestWindow("https://pay.example");
  const host = connect("host", link(shop, pay, pay.origin), { allow: [pay.origin] });
  const guest = connect("guest", link(pay, shop), { allow: [shop.origin] });
  made.push(host, guest);
  await Promise.all([host.connected(), guest.connected()]);
  return [host, guest];
}

test("the typed Api sends what Rust would send and reads what Rust sent", async () => {
  const [host, guest] = await pair();
  const api = new Api(host);
  const list = Everything.decode(vector("Everything", 1)).list;
  // The request's bytes are Rust's; the reply is Rust's Some(Label { "x", false }).
  guest.handle("test.shapes", (request) => {
    assert.equal(hex(request), vectors.find((v) => v.what == "test.shapes request")!.hex);
    return vector("test.shapes response");
  });
  assert.deepEqual(await api.call("test.shapes", list), { tag: "Label", value: { text: "x", bold: false } });
  guest.handle("test.shapes", () => vector("test.shapes response", 1));
  assert.equal(await api.call("test.shapes", []), null);

  new Api(guest).handle("test.ping", () => null);
  assert.equal(await api.call("test.ping", null), null);

  const ticks: string[] = [];
  guest.on("test.tick", (event) => ticks.push(hex(event)));
  const events: [number, number][] = [];
  new Api(guest).on("test.tick", (event) => events.push(event));
  api.emit("test.tick", [9, -2.5]);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(ticks, [vectors.find((v) => v.what == "test.tick")!.hex]);
  assert.deepEqual(events, [[9, -2.5]]);
});

test("a request that is not the declared type is answered BAD_REQUEST; a bad event goes to onBad", async () => {
  const [host, guest] = await pair();
  let served = 0;
  new Api(guest).handle("test.everything", (r) => (served++, r));
  const err = await host.call("test.everything", new Uint8Array([7])).catch((e: unknown) => e);
  assert.ok(err instanceof RemoteError && err.code == BAD_REQUEST, String(err));
  assert.match((err as RemoteError).message, /not a test.everything request/);
  // A list claiming 2^32 - 1 shapes in five bytes is refused before any is read.
  let shapes = 0;
  new Api(guest).handle("test.shapes", (list) => (shapes += list.length, null));
  const long = await host.call("test.shapes", new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])).catch((e: unknown) => e);
  assert.ok(long instanceof RemoteError && long.code == BAD_REQUEST, String(long));
  assert.match(long.message, /a length past the payload's end/);
  assert.equal(served + shapes, 0);

  const bad: Error[] = [];
  const heard: unknown[] = [];
  new Api(guest).on("test.tick", (e) => heard.push(e), (e) => bad.push(e));
  host.emit("test.tick", new Uint8Array([9]));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(heard.length, 0);
  assert.equal(bad.length, 1);
  assert.ok(bad[0] instanceof RangeError);
});
