//! Protocol versions and their negotiation.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks natively.
pub const PROTOCOL_VERSION: u16 = 1;

/// An inclusive range of protocol versions a peer supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions {
    /// Oldest supported version.
    pub min: u16,
    /// Newest supported version.
    pub max: u16,
}

impl Versions {
    /// What this build supports.
    pub const CURRENT: Versions = Versions {
        min: PROTOCOL_VERSION,
        max: PROTOCOL_VERSION,
    };

    /// The highest version both ranges contain, if any.
    pub fn negotiate(self, other: Versions) -> Option<u16> {
        let hi = self.max.min(other.max);
        let lo = self.min.max(other.min);
        (hi >= lo && self.min <= self.max && other.min <= other.max).then_some(hi)
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "v{}", self.min)
        } else {
            write!(f, "v{}..=v{}", self.min, self.max)
        }
    }
}
