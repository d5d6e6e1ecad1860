// The ways to connect: which window is the peer, which origin it has when
// the page knows it, and how to tell that it is gone. Nothing here decides
// anything about the protocol.

import { type Connection, type Options, allowlistOf, connect, mustAllow } from "./connection.js";

const originOf = (url: string): string => new URL(url, location.href).origin;

const to = (role: "host" | "guest", peer: Window, o: Options, origin?: string, gone?: () => boolean): Connection =>
  connect(role, { peer, self: window, origin, gone }, o);

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
  if (!peer) throw new Error("append the iframe to the document, then connect");
  const src = iframe.src;
  return to("host", peer, options, /^https?:/i.test(src) ? originOf(src) : undefined, () => !iframe.isConnected);
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
  if (parent == window) throw new Error("this page is not in an iframe");
  return to("guest", parent, options, location.ancestorOrigins?.[0]);
}

/**
 * Connects from inside a popup to the window that opened it. The first knock
 * goes to the opener's origin as `document.referrer` reveals it, if allowed.
 */
export function connectOpener(options: Options): Connection {
  const opener = window.opener as Window | null;
  if (!opener) throw new Error("this window has no opener (opened with noopener, or not by a page)");
  const referrer = document.referrer;
  return to("guest", opener, options, referrer && originOf(referrer), () => opener.closed);
}

/**
 * Connects to a popup this page opened at `url` with `window.open` (without
 * `noopener`). The peer's origin comes from `url`.
 */
export function connectPopup(popup: Window, url: string, options: Options): Connection {
  return to("host", popup, options, originOf(url), () => popup.closed);
}

/**
 * Opens `url` in a popup and connects to it. Call it from a user gesture, or
 * the browser blocks the popup. `features` is `window.open`'s third argument.
 * The options are checked before any window opens.
 */
export function openPopup(url: string, features: string, options: Options): Connection {
  const allow = allowlistOf(options);
  mustAllow(allow, originOf(url));
  const popup = open(url, "_blank", features);
  if (!popup) throw new Error("the browser blocked the popup; open it from a click");
  return connectPopup(popup, url, { ...options, allow });
}
