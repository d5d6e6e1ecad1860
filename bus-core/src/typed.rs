//! The typed layer: methods and topics as compile-time-checked descriptors.
//!
//! A [`Method`] names a remote procedure and fixes its request and response
//! types; a [`Topic`] names a stream of events and fixes its payload type.
//! Declare them once in a crate both sides depend on, and every call site is
//! checked by the compiler:
//!
//! ```
//! use bus_core::{Method, RemoteError, Router, Topic};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! pub struct Quote { pub cents: u64, pub currency: String }
//!
//! pub const GET_TOTAL: Method<u32, Quote> = Method::new("checkout.total");
//! pub const PAID: Topic<Quote> = Topic::new("checkout.paid");
//!
//! let mut router = Router::new();
//! router.route(GET_TOTAL, |items: u32| Ok(Quote { cents: 250 * items as u64, currency: "EUR".into() }));
//!
//! let request = GET_TOTAL.encode_request(&4)?;
//! let response = router.dispatch(GET_TOTAL.name(), &request).map_err(|e| e.to_string())?;
//! assert_eq!(GET_TOTAL.decode_response(&response)?, Quote { cents: 1000, currency: "EUR".into() });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::vec_map::VecMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::attach::{Attachment, decode_parts, encode_parts};
pub use crate::codec::{CodecError, decode, encode};
use crate::error::RemoteError;

/// A remote method: its wire name plus request and response types.
pub struct Method<Req, Resp> {
    name: &'static str,
    _types: PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp> Method<Req, Resp> {
    /// Declares a method. The name is what travels on the wire: keep it
    /// stable, and give a changed signature a new name.
    pub const fn new(name: &'static str) -> Self {
        Method {
            name,
            _types: PhantomData,
        }
    }

    /// The wire name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<Req: Serialize + DeserializeOwned, Resp: Serialize + DeserializeOwned> Method<Req, Resp> {
    /// Encodes a request.
    pub fn encode_request(&self, req: &Req) -> Result<Vec<u8>, CodecError> {
        encode(req)
    }

    /// Decodes a request.
    pub fn decode_request(&self, bytes: &[u8]) -> Result<Req, CodecError> {
        decode(bytes)
    }

    /// Encodes a response.
    pub fn encode_response(&self, resp: &Resp) -> Result<Vec<u8>, CodecError> {
        encode(resp)
    }

    /// Decodes a response.
    pub fn decode_response(&self, bytes: &[u8]) -> Result<Resp, CodecError> {
        decode(bytes)
    }
}

/// The handler adapter: how any server of a [`Method`] (the synchronous
/// [`Router`], bus-web's async `serve`) turns bytes into a typed request and
/// a typed result back into bytes, with the same errors everywhere.
impl<Req: Serialize + DeserializeOwned, Resp: Serialize + DeserializeOwned> Method<Req, Resp> {
    /// Decodes a request for a handler; a request that does not decode is the
    /// caller's fault: [`RemoteError::BAD_REQUEST`].
    pub fn accept_request(&self, bytes: &[u8]) -> Result<Req, RemoteError> {
        self.accept_request_parts(bytes, Vec::new())
    }

    /// [`Method::accept_request`] for a request that came with attachments.
    pub fn accept_request_parts(
        &self,
        bytes: &[u8],
        attachments: Vec<Attachment>,
    ) -> Result<Req, RemoteError> {
        decode_parts(bytes, attachments)
            .map_err(|e| RemoteError::new(RemoteError::BAD_REQUEST, format!("{}: {e}", self.name)))
    }

    /// Encodes a handler's result for the reply; a response that does not
    /// encode is the callee's fault: [`RemoteError::INTERNAL`].
    pub fn finish_response(
        &self,
        result: Result<Resp, RemoteError>,
    ) -> Result<Vec<u8>, RemoteError> {
        self.encode_response(&result?)
            .map_err(|e| RemoteError::new(RemoteError::INTERNAL, format!("{}: {e}", self.name)))
    }

    /// [`Method::finish_response`] for a response that may hold attachments.
    pub fn finish_response_parts(
        &self,
        result: Result<Resp, RemoteError>,
    ) -> Result<(Vec<u8>, Vec<Attachment>), RemoteError> {
        encode_parts(&result?)
            .map_err(|e| RemoteError::new(RemoteError::INTERNAL, format!("{}: {e}", self.name)))
    }
}

/// The error for a call to a method nobody serves.
pub fn method_not_found(method: &str) -> RemoteError {
    RemoteError::new(
        RemoteError::METHOD_NOT_FOUND,
        format!("no handler for method \"{method}\""),
    )
}

impl<Req, Resp> Clone for Method<Req, Resp> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Req, Resp> Copy for Method<Req, Resp> {}

impl<Req, Resp> fmt::Debug for Method<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Method({:?})", self.name)
    }
}

/// A topic: its wire name plus payload type.
pub struct Topic<T> {
    name: &'static str,
    _type: PhantomData<fn(T) -> T>,
}

impl<T> Topic<T> {
    /// Declares a topic.
    pub const fn new(name: &'static str) -> Self {
        Topic {
            name,
            _type: PhantomData,
        }
    }

    /// The wire name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<T: Serialize + DeserializeOwned> Topic<T> {
    /// Encodes a payload.
    pub fn encode(&self, payload: &T) -> Result<Vec<u8>, CodecError> {
        encode(payload)
    }

    /// Decodes a payload.
    pub fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        decode(bytes)
    }
}

impl<T> Clone for Topic<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Topic<T> {}

impl<T> fmt::Debug for Topic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic({:?})", self.name)
    }
}

type Parts = (Vec<u8>, Vec<Attachment>);
type Handler = Box<dyn FnMut(&[u8], Vec<Attachment>) -> Result<Parts, RemoteError>>;

/// Synchronous handlers by method name: decodes the request, runs the
/// handler, encodes the response, and turns every failure into a
/// [`RemoteError`] for the caller.
#[derive(Default)]
pub struct Router {
    handlers: VecMap<&'static str, Handler>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("methods", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Router {
    /// An empty router: every call gets [`RemoteError::METHOD_NOT_FOUND`].
    pub fn new() -> Router {
        Router::default()
    }

    /// Serves `method` with `handler`, replacing any earlier handler.
    pub fn route<Req, Resp, F>(&mut self, method: Method<Req, Resp>, mut handler: F) -> &mut Router
    where
        Req: Serialize + DeserializeOwned + 'static,
        Resp: Serialize + DeserializeOwned + 'static,
        F: FnMut(Req) -> Result<Resp, RemoteError> + 'static,
    {
        self.handlers.insert(
            method.name(),
            Box::new(move |bytes, attachments| {
                let req = method.accept_request_parts(bytes, attachments)?;
                method.finish_response_parts(handler(req))
            }),
        );
        self
    }

    /// Whether `method` has a handler.
    pub fn serves(&self, method: &str) -> bool {
        self.handlers.contains_key(method)
    }

    /// Runs the handler for `method` on an encoded request. (Attachments in
    /// the response are dropped: see [`Router::dispatch_parts`].)
    pub fn dispatch(&mut self, method: &str, payload: &[u8]) -> Result<Vec<u8>, RemoteError> {
        self.dispatch_parts(method, payload, Vec::new())
            .map(|(bytes, _)| bytes)
    }

    /// Runs the handler for `method` on an encoded request and its
    /// attachments; returns the encoded response and its attachments.
    pub fn dispatch_parts(
        &mut self,
        method: &str,
        payload: &[u8],
        attachments: Vec<Attachment>,
    ) -> Result<Parts, RemoteError> {
        match self.handlers.get_mut(method) {
            Some(h) => h(payload, attachments),
            None => Err(method_not_found(method)),
        }
    }
}

#[cfg(test)]
mod tests;
