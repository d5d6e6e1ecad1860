// The checkout widget in plain TypeScript: the Rust shop (demo-parent) can
// embed it in place of the Rust PayWidget. It prices carts in the
// contract's types (contract.ts, generated from the Rust crate demo-api)
// and refuses an empty one with the same typed error as the Rust widget.

import { connectParent, RemoteError } from "wbus";
import { Api, CART_TOO_LARGE, CartProblem, EMPTY_CART } from "./contract.js";

const $ = (id: string): HTMLElement => document.querySelector(`[data-testid=${id}]`)!;
const meta = (name: string): string => document.querySelector<HTMLMetaElement>(`meta[name=${name}]`)!.content;

// `?versions=2` speaks another protocol version, to show a mismatch.
const only = Number(new URLSearchParams(location.search).get("versions")) || 1;
const bus = connectParent({ allow: [meta("bus-allow")], versions: { min: only, max: only } });
const api = new Api(bus);

api.handle("checkout.quote", (cart) => {
  if (!cart.lines.length) {
    const problem = CartProblem.encode({ reason: "the cart is empty", lines: 0 });
    throw new RemoteError(EMPTY_CART, "cannot price an empty cart", problem);
  }
  // The Rust widget's rule (demo_api::price): 20% tax, rounded to the cent.
  const subtotal = cart.lines.reduce((sum, l) => sum + BigInt(l.qty) * l.unit_cents, 0n);
  const tax = (subtotal * 20n + 50n) / 100n;
  if (subtotal + tax >= 2n ** 64n) throw new RemoteError(CART_TOO_LARGE, "the total does not fit in a u64 of cents");
  $("last-quote").textContent = `quoted ${subtotal + tax} cents`;
  return { subtotal_cents: subtotal, tax_cents: tax, total_cents: subtotal + tax, currency: cart.currency };
});
api.handle("checkout.echo-bytes", (bytes) => bytes);
bus.connected().then(() => ($("bus-status").textContent = "connected"));
bus.closed.then((why) => ($("bus-status").textContent = `closed: ${why}`));

/** Asks the Rust host who it is: `shop|customer`. */
async function hostInfo(): Promise<string> {
  const info = await api.call("host.info", null);
  return `${info.shop}|${info.customer}`;
}

// For the end-to-end tests.
Object.assign(window, { "__ts": { bus, api, hostInfo } });
