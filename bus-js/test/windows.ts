// Two (or more) windows for the connection's protocol tests under node: each
// has an origin and `message` listeners; posting through a handle delivers a
// structured clone as a task, with the sender's origin and handle as
// `origin` and `source`, only when the targetOrigin matches (as browsers
// do). The ports are node's real MessageChannel. Browser behaviour itself is
// tested in real browsers by the e2e suite; this checks the protocol logic.

import type { Link, PeerWindow } from "../src/connection.js";

type Listener = (e: MessageEvent) => void;

export class TestWindow {
  readonly listeners = new Set<Listener>();
  /** Every targetOrigin posted to this window, in order. */
  readonly targets: string[] = [];
  /**
   * The last port posted to this window, and the session id in the header of
   * the frame that brought it: a guest's private port (the one its bus
   * adopted) and its session, for tests that act as a compromised peer.
   */
  port?: MessagePort;
  session?: Uint8Array;
  private readonly handles = new Map<TestWindow, PeerWindow>();

  constructor(public origin: string) {}

  addEventListener(_type: string, f: Listener): void {
    this.listeners.add(f);
  }

  removeEventListener(_type: string, f: Listener): void {
    this.listeners.delete(f);
  }

  /** This window as `from` sees it: posting through it delivers here, from `from`. */
  seenBy(from: TestWindow): PeerWindow {
    let h = this.handles.get(from);
    if (!h) {
      h = {
        postMessage: (data: unknown, targetOrigin: string, transfer: Transferable[] = []) => {
          this.targets.push(targetOrigin);
          const clone = structuredClone({ data, transfer }, { transfer: transfer as Transferable[] as never });
          const source = from.seenBy(this);
          const origin = from.origin;
          setTimeout(() => {
            if (targetOrigin != "*" && targetOrigin != this.origin) return;
            const e = { data: clone.data, origin, source, ports: clone.transfer } as unknown as MessageEvent;
            if (clone.transfer[0] instanceof MessagePort && clone.data instanceof Uint8Array) {
              this.port = clone.transfer[0];
              this.session = clone.data.slice(6, 22);
            }
            for (const l of [...this.listeners]) l(e);
          });
        },
      };
      this.handles.set(from, h);
    }
    return h;
  }

  /** A document unload: every listener goes. */
  unload(): void {
    this.listeners.clear();
  }
}

/** The link of a connection in `self` talking to `peer`. */
export const link = (self: TestWindow, peer: TestWindow, origin?: string): Link => ({
  self: self as unknown as Link["self"],
  peer: peer.seenBy(self),
  origin,
});

export const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `f()` holds, polling; fails after `ms`. */
export async function until(f: () => boolean, ms = 3000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
