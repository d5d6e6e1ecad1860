//! Where session nonces come from.
//!
//! The engine needs 128 unpredictable bits per handshake. It takes them from
//! an [`Entropy`] source instead of reaching for one itself, so it stays free
//! of platform code: natively use [`SystemEntropy`]; in the browser the
//! binding supplies `crypto.getRandomValues`.

use std::fmt;

/// No random bytes could be produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntropyError(pub String);

impl fmt::Display for EntropyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no secure random bytes: {}", self.0)
    }
}

impl std::error::Error for EntropyError {}

/// A source of cryptographically secure random bytes.
pub trait Entropy {
    /// Fills `buf` entirely, or fails.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError>;
}

impl<F: FnMut(&mut [u8]) -> Result<(), EntropyError>> Entropy for F {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        self(buf)
    }
}

/// An [`Entropy`] source an [`crate::Engine`] can own: `Send` natively, so
/// an engine can run on a server's worker threads (bus-server), and any
/// source in the browser, where `crypto.getRandomValues` is not `Send`.
#[cfg(not(target_arch = "wasm32"))]
pub trait EngineEntropy: Entropy + Send + 'static {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Entropy + Send + 'static> EngineEntropy for T {}

/// An [`Entropy`] source an [`crate::Engine`] can own: `Send` natively, so
/// an engine can run on a server's worker threads (bus-server), and any
/// source in the browser, where `crypto.getRandomValues` is not `Send`.
#[cfg(target_arch = "wasm32")]
pub trait EngineEntropy: Entropy + 'static {}
#[cfg(target_arch = "wasm32")]
impl<T: Entropy + 'static> EngineEntropy for T {}

/// The operating system's generator (not available on wasm32, where the
/// binding provides the browser's).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEntropy;

#[cfg(not(target_arch = "wasm32"))]
impl Entropy for SystemEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        getrandom::fill(buf).map_err(|e| EntropyError(e.to_string()))
    }
}
