// Hooks on one MessagePort for the latency breakdown, shared by the bench
// page and the bus child. Nothing is wrapped while the timed batches run:
// `watchPorts(seen)` only notes every `onmessage` handler set (the bus sets
// one on its private port), and `wrapPort` wraps that one port's
// `postMessage` and handler for the probed pass, returning what undoes it.
const onmessage = Object.getOwnPropertyDescriptor(MessagePort.prototype, "onmessage");

export function watchPorts(seen) {
  Object.defineProperty(MessagePort.prototype, "onmessage", {
    configurable: true,
    get() { return onmessage.get.call(this); },
    set(fn) {
      seen(this, fn);
      onmessage.set.call(this, fn);
    },
  });
}

// `onPost()` runs before every post on `port`, `onEvent()` before its
// `handler` gets each message and `afterEvent()` (if given) after; undoing
// it puts `handler` back as it was.
export function wrapPort(port, handler, onPost, onEvent, afterEvent = () => {}) {
  const post = MessagePort.prototype.postMessage;
  port.postMessage = function (...args) {
    onPost();
    return post.apply(this, args);
  };
  onmessage.set.call(port, (e) => {
    onEvent();
    const r = handler(e);
    afterEvent();
    return r;
  });
  return () => {
    delete port.postMessage;
    onmessage.set.call(port, handler);
  };
}
