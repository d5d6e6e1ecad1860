//! Why a connection could not be set up. Compiles everywhere, so code that
//! handles it also builds for the server under SSR.

use std::fmt;

use bus_core::{ConfigError, OriginError};

/// Why a connection could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectError {
    /// The options were refused (empty allowlist, peer origin not allowed, …).
    Config(ConfigError),
    /// A URL could not be turned into an origin.
    Url(OriginError),
    /// `connect_parent` outside an iframe.
    NotInIframe,
    /// `connect_opener` in a window nobody opened (or opened with `noopener`).
    NoOpener,
    /// The iframe is not in a document, so it has no window yet.
    FrameNotAttached,
    /// The browser refused to open the popup (popup blocker, or `noopener`).
    PopupBlocked,
    /// Not running in a browser window.
    NoWindow,
    /// `crypto.getRandomValues` is unavailable.
    NoCrypto,
    /// `connect_websocket` was given something other than a `ws://` or
    /// `wss://` URL or a path on the page's server.
    #[cfg(feature = "websocket")]
    NotAWebSocketUrl(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Config(e) => e.fmt(f),
            ConnectError::Url(e) => e.fmt(f),
            ConnectError::NotInIframe => {
                f.write_str("connect_parent: this page is not inside an iframe; use connect_opener in a popup")
            }
            ConnectError::NoOpener => f.write_str(
                "connect_opener: this window has no opener (opened with noopener, or not a popup)",
            ),
            ConnectError::FrameNotAttached => {
                f.write_str("connect_iframe: the iframe has no window; append it to the document first")
            }
            ConnectError::PopupBlocked => f.write_str(
                "open_popup: the browser did not open the window; call it from a user gesture (a click)",
            ),
            ConnectError::NoWindow => f.write_str("not running in a browser window"),
            ConnectError::NoCrypto => f.write_str("crypto.getRandomValues is not available"),
            #[cfg(feature = "websocket")]
            ConnectError::NotAWebSocketUrl(url) => write!(
                f,
                "connect_websocket: \"{url}\" is not a ws:// or wss:// URL, nor a path on this page's server"
            ),
        }
    }
}

impl std::error::Error for ConnectError {}

impl From<ConfigError> for ConnectError {
    fn from(e: ConfigError) -> ConnectError {
        ConnectError::Config(e)
    }
}
