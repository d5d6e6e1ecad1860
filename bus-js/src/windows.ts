// The ways to connect: which window is the peer, which origin it has when
// the page knows it, and how to tell that it is gone. Nothing here decides
// anything about the protocol.

import { Connection, type Options } from "./connection.js";
import { Allowlist } from "./origin.js";

const originOf = (url: string): string => new URL(url, location.href).origin;

const allowlist = (o: Options): Allowlist =>
  o.allow instanceof Allowlist ? o.allow : new Allowlist(o.allow, o.allowOpaqueOrigins);

/** `o` with its allowlist checked once, so an entry's error is thrown here, before anything happens. */
const checked = (o: Options): Options => ({ ...o, allow: allowlist(o) });

/** An origin the page can see for its peer, if the allowlist allows it. */
const ifAllowed = (o: Options, origin?: string | null): string | undefined =>
  origin && (o.allow as Allowlist).allows(origin) ? origin : undefined;

/**
 * Connects to a child iframe. Its origin comes from its `src`, must be in
 * the allowlist, and is then the only one the connection talks to. The host
 * waits for the child's bus to knock, and follows it across reloads for as
 * long as the iframe is in the document.
 *
 * ```ts
 * const bus = connectIframe(document.querySelector("iframe")!, { allow: ["https://pay.example"] });
 * const receipt = await bus.call("pay", request);
 * ```
 */
export function connectIframe(iframe: HTMLIFrameElement, options: Options): Connection {
  const peer = iframe.contentWindow;
  if (!peer) throw new Error("the iframe is not in the document yet; append it, then connect");
  const src = iframe.src;
  return new Connection("host", {
    peer,
    self: window,
    origin: /^https?:/i.test(src) ? originOf(src) : undefined,
    gone: () => !iframe.isConnected || !iframe.contentWindow,
  }, checked(options));
}

/**
 * Connects from inside an iframe to the page that embeds it. The first knock
 * goes to the parent's origin when the browser reveals it and it is allowed,
 * otherwise to each exact origin of the allowlist.
 *
 * ```ts
 * const bus = connectParent({ allow: ["https://shop.example"] });
 * bus.handle("pay", async (request) => receipt(request));
 * ```
 */
export function connectParent(options: Options): Connection {
  if (window.parent == window) throw new Error("this page is not in an iframe; use connectParent inside the embedded page");
  const o = checked(options);
  return new Connection("guest", { peer: window.parent, self: window, origin: ifAllowed(o, location.ancestorOrigins?.[0]) }, o);
}

/**
 * Connects from inside a popup to the window that opened it. The first knock
 * goes to the opener's origin as `document.referrer` reveals it, if allowed.
 */
export function connectOpener(options: Options): Connection {
  const opener = window.opener as Window | null;
  if (!opener) throw new Error("this window has no opener (it was opened with noopener, or not by a page); nothing to connect to");
  const o = checked(options);
  const referrer = document.referrer;
  return new Connection(
    "guest",
    { peer: opener, self: window, origin: ifAllowed(o, referrer && originOf(referrer)), gone: () => opener.closed },
    o,
  );
}

/**
 * Connects to a popup this page opened at `url` with `window.open` (without
 * `noopener`). The peer's origin comes from `url`.
 */
export function connectPopup(popup: Window, url: string, options: Options): Connection {
  return new Connection("host", { peer: popup, self: window, origin: originOf(url), gone: () => popup.closed }, checked(options));
}

/**
 * Opens `url` in a popup and connects to it. Call it from a user gesture, or
 * the browser blocks the popup. `features` is `window.open`'s third argument.
 * The options are checked before any window opens.
 */
export function openPopup(url: string, features: string, options: Options): Connection {
  const o = checked(options);
  const origin = originOf(url);
  if (!(o.allow as Allowlist).allows(origin))
    throw new Error(`the popup's origin ${origin} is not in the allowlist (${o.allow}); add it`);
  const popup = window.open(url, "_blank", features);
  if (!popup) throw new Error("the browser blocked the popup; open it from a click handler");
  return connectPopup(popup, url, o);
}
