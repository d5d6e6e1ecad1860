// The shop in plain TypeScript: it embeds the Rust PayWidget with wbus and
// talks to it in the contract's types (contract.ts, generated from the Rust
// crate demo-api). tsc checks every method name and payload here as rustc
// checks the Rust host's.

import { BusError, connectIframe, RemoteError } from "wbus";
import { Api, Cart, CartProblem, EMPTY_CART, type Receipt } from "./contract.js";

const $ = (id: string): HTMLElement => document.querySelector(`[data-testid=${id}]`)!;
const meta = (name: string): string => document.querySelector<HTMLMetaElement>(`meta[name=${name}]`)!.content;
const money = (cents: bigint, currency: string): string =>
  `${cents / 100n}.${String(cents % 100n).padStart(2, "0")} ${currency}`;

const tent: Cart = { lines: [{ name: "Tent", qty: 1, unit_cents: 10_000n }], currency: "EUR" };

const bus = connectIframe(document.getElementById("widget") as HTMLIFrameElement, { allow: [meta("bus-allow")] });
const api = new Api(bus);

// The widget asks who it serves, and to resize its frame.
api.handle("host.info", () => ({ shop: "Acme Outdoor (TypeScript)", customer: "Ada Lovelace" }));
api.handle("host.resize", (height) => height);

const events: Receipt[] = [];
api.on("checkout.paid", (receipt) => {
  events.push(receipt);
  $("ts-events").textContent = `${events.length} × checkout.paid (last: ${money(receipt.total_cents, receipt.currency)})`;
});
bus.connected().then(() => ($("ts-status").textContent = `connected to ${meta("bus-allow")}`));
bus.closed.then((why) => ($("ts-status").textContent = `closed: ${why}`));

/** A quote for `cart`, or the widget's typed refusal, as text. */
async function quote(cart: Cart): Promise<string> {
  try {
    const q = await api.call("checkout.quote", cart);
    return `total ${money(q.total_cents, q.currency)} (tax ${money(q.tax_cents, q.currency)})`;
  } catch (e) {
    if (e instanceof RemoteError && e.code == EMPTY_CART && e.data) {
      const problem = CartProblem.decode(e.data);
      return `refused (${e.code}): ${problem.reason}, ${problem.lines} lines`;
    }
    return e instanceof RemoteError ? `remote error ${e.code}: ${e.message}` : String(e);
  }
}

$("ts-quote").onclick = async () => ($("ts-result").textContent = await quote(tent));
$("ts-empty").onclick = async () => ($("ts-result").textContent = await quote({ lines: [], currency: "EUR" }));

// For the end-to-end tests: the raw bus, the typed API, and the cart's bytes.
Object.assign(window, {
  "__ts": { bus, api, events, quote, tent, tentCart: Cart.encode(tent), RemoteError, BusError },
});
