// Type-level tests of a generated contract (never run): `tsc -p test`
// fails if a line marked @ts-expect-error compiles, so each one proves that
// tsc refuses what rustc refuses.

import type { Connection } from "wbus";
import { Api, Everything, type Shape, TEAPOT } from "./generated/kitchen.js";

export async function typed(bus: Connection, everything: Everything): Promise<void> {
  const api = new Api(bus);
  const shape: Shape | null = await api.call("test.shapes", everything.list);
  const pong: null = await api.call("test.ping", null);
  api.emit("test.tick", [9, -2.5]);
  api.on("test.tick", ([n, meters]) => console.log(n + 1, meters * 2));
  api.handle("test.everything", (request) => ({ ...request, word: request.word + 1 }));
  const teapot: 418 = TEAPOT;
  void [shape, pong, teapot, Everything.encode(everything)];

  // @ts-expect-error: a typo in a method name.
  await api.call("test.shape", everything.list);
  // @ts-expect-error: a request of another type.
  await api.call("test.shapes", everything);
  // @ts-expect-error: a reply used as another type.
  const wrong: string = await api.call("test.ping", null);
  // @ts-expect-error: a typo in a topic name.
  api.emit("test.tic", [9, -2.5]);
  // @ts-expect-error: an event of another type.
  api.emit("test.tick", [9, "far"]);
  // @ts-expect-error: a handler answering another type.
  api.handle("test.ping", () => 7);
  // @ts-expect-error: a u64 is a bigint, not a number.
  everything.long = 7;
  // @ts-expect-error: an enum variant that does not exist.
  const square: Shape = { tag: "Square", value: 2 };
  void [wrong, square];
}
