// wbus from TypeScript: a peer of the Rust bus (bus-web) speaking the wire
// protocol of docs/PROTOCOL.md, with the same allowlist and checks.

export {
  BAD_REQUEST,
  BusError,
  type Connection,
  connect,
  type Failure,
  type Handler,
  INTERNAL,
  type Link,
  METHOD_NOT_FOUND,
  type Options,
  OVERLOADED,
  type PeerWindow,
  type Rejection,
  RemoteError,
  type State,
} from "./connection.js";
export { Allowlist, OriginError, type Problem } from "./origin.js";
export { connectIframe, connectOpener, connectParent, connectPopup, openPopup } from "./windows.js";
