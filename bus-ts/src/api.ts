
/** Options of one call: its deadline in ms, and a signal that cancels it. */
export interface CallOptions {
  timeout?: number;
  signal?: AbortSignal;
}

/**
 * A connection (from `wbus`: `connectIframe`, `connectParent`…) spoken in
 * this contract's names and types: a method or topic it does not declare,
 * or a payload of the wrong type, fails `tsc`.
 */
export class Api {
  constructor(readonly bus: Connection) {}

  /** Calls `method`; rejects as `Connection.call` does, or with a `RangeError` for a reply that is not the declared type. */
  call<K extends keyof Methods>(method: K, request: Methods[K][0], options?: CallOptions): Promise<Methods[K][1]> {
    const [req, resp] = methods[method];
    return this.bus.call(method, req.encode(request), options).then((bytes) => resp.decode(bytes));
  }

  /** Serves `method`; a request that is not the declared type is answered with `BAD_REQUEST`. Returns a function that stops serving. */
  handle<K extends keyof Methods>(
    method: K,
    handler: (request: Methods[K][0], signal: AbortSignal) => Methods[K][1] | Promise<Methods[K][1]>,
  ): () => void {
    const [req, resp] = methods[method];
    return this.bus.handle(method, async (bytes, signal) => {
      let request: Methods[K][0];
      try {
        request = req.decode(bytes);
      } catch (e) {
        throw new RemoteError(BAD_REQUEST, `the request is not a ${method} request: ${(e as Error).message}`);
      }
      return resp.encode(await handler(request, signal));
    });
  }

  /** Sends an event on `topic`. */
  emit<K extends keyof Topics>(topic: K, event: Topics[K]): void {
    this.bus.emit(topic, topics[topic].encode(event));
  }

  /**
   * Listens on `topic`; returns a function that stops listening. An event
   * that is not the declared type goes to `onBad` (by default
   * `console.error`), not to `listener`.
   */
  on<K extends keyof Topics>(
    topic: K,
    listener: (event: Topics[K]) => void,
    onBad: (error: Error) => void = console.error,
  ): () => void {
    return this.bus.on(topic, (bytes) => {
      let event: Topics[K];
      try {
        event = topics[topic].decode(bytes);
      } catch (e) {
        return onBad(e as Error);
      }
      listener(event);
    });
  }
}
