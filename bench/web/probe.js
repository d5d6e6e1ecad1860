// Hooks on MessagePort for the latency breakdown, shared by the bench page
// and the bus child: `onPost(port)` runs before every postMessage, and
// `onMessage(port, handler)` wraps every `onmessage` handler set (the bus
// sets one on its private port; the other contenders listen otherwise).
export function watchPorts(onPost, onMessage) {
  const post = MessagePort.prototype.postMessage;
  MessagePort.prototype.postMessage = function (...args) {
    onPost(this);
    return post.apply(this, args);
  };
  const onmessage = Object.getOwnPropertyDescriptor(MessagePort.prototype, "onmessage");
  Object.defineProperty(MessagePort.prototype, "onmessage", {
    configurable: true,
    get() { return onmessage.get.call(this); },
    set(fn) { onmessage.set.call(this, fn && onMessage(this, fn)); },
  });
}
