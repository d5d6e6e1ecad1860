//! The contract between the demo host (a shop) and its embedded checkout
//! widget. Both apps depend on this crate, so a changed signature breaks the
//! build on both sides instead of desynchronising them at run time.

#[cfg(target_arch = "wasm32")]
pub mod ui;

use bus_core::{Method, Topic};
use serde::{Deserialize, Serialize};

/// One line of the shopping cart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartLine {
    /// Product name.
    pub name: String,
    /// How many.
    pub qty: u32,
    /// Price of one, in cents.
    pub unit_cents: u64,
}

/// What the host asks the widget to price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    /// The lines.
    pub lines: Vec<CartLine>,
    /// ISO currency code.
    pub currency: String,
}

/// The widget's price for a cart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    /// Before tax.
    pub subtotal_cents: u64,
    /// Tax.
    pub tax_cents: u64,
    /// To pay.
    pub total_cents: u64,
    /// ISO currency code.
    pub currency: String,
}

/// Who the widget is talking to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// The shop's name.
    pub shop: String,
    /// The signed-in customer.
    pub customer: String,
}

/// A completed payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// Payment reference.
    pub reference: String,
    /// Amount paid, in cents.
    pub total_cents: u64,
    /// ISO currency code.
    pub currency: String,
}

/// Why the widget refused to price a cart (the typed data of its error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartProblem {
    /// What is wrong.
    pub reason: String,
    /// How many lines the cart had.
    pub lines: u32,
}

/// The error code of a cart the widget cannot price.
pub const EMPTY_CART: i32 = 400;

/// Host → widget: price this cart. An empty cart is refused with
/// [`EMPTY_CART`] and a [`CartProblem`].
pub const QUOTE: Method<Cart, Quote> = Method::new("checkout.quote");
/// Host → widget: take the payment; answers once the customer clicks *Pay*
/// in the widget, so it waits as long as the customer does.
pub const CONFIRM: Method<Cart, Receipt> = Method::new("checkout.confirm");
/// Host → widget: echo these bytes (checks large payloads end to end).
pub const ECHO_BYTES: Method<Vec<u8>, Vec<u8>> = Method::new("checkout.echo-bytes");
/// Widget → host: who am I serving?
pub const HOST_INFO: Method<(), HostInfo> = Method::new("host.info");
/// Widget → host: make my iframe this many CSS pixels tall.
pub const RESIZE: Method<u32, u32> = Method::new("host.resize");
/// Widget → host: the customer paid.
pub const PAID: Topic<Receipt> = Topic::new("checkout.paid");
/// Host → widget: the cart changed.
pub const CART_CHANGED: Topic<Cart> = Topic::new("host.cart-changed");

/// Which server process answered, and how many of the shop's tabs it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The process's name (its address).
    pub name: String,
    /// Tabs connected to this process.
    pub tabs: u32,
}

// The shop's own server: bus-server at `/bus` on the shop's origin, over
// WebSocket.

/// Tab ↔ server: the cart changed in one tab. The server relays it to every
/// other open tab of the shop (across server processes that share NATS),
/// never back to the tab that sent it.
pub const SHOP_CART: Topic<Cart> = Topic::new("shop.cart");
/// Tab → server: answer with `ms` after waiting that long (at most 60 s).
pub const SERVER_WAIT: Method<u32, u32> = Method::new("server.wait");
/// Tab → server: who are you, and how many tabs do you hold?
pub const SERVER_INFO: Method<(), ServerInfo> = Method::new("server.info");

/// The error code of a cart whose total does not fit in a `u64` of cents.
pub const CART_TOO_LARGE: i32 = 413;

/// The widget's pricing rule: 20% tax, rounded to the cent. `None` when the
/// total overflows (a cart from a peer is input like any other).
pub fn price(cart: &Cart) -> Option<Quote> {
    let subtotal_cents = cart.lines.iter().try_fold(0u64, |sum, l| {
        u64::from(l.qty)
            .checked_mul(l.unit_cents)
            .and_then(|line| sum.checked_add(line))
    })?;
    let tax_cents = subtotal_cents.checked_mul(20)?.checked_add(50)? / 100;
    Some(Quote {
        subtotal_cents,
        tax_cents,
        total_cents: subtotal_cents.checked_add(tax_cents)?,
        currency: cart.currency.clone(),
    })
}

/// `1234` → `"12.34 EUR"`.
pub fn money(cents: u64, currency: &str) -> String {
    format!("{}.{:02} {currency}", cents / 100, cents % 100)
}

/// The demo cart.
pub fn sample_cart() -> Cart {
    Cart {
        lines: vec![
            CartLine {
                name: "Trail running shoes".into(),
                qty: 1,
                unit_cents: 12_900,
            },
            CartLine {
                name: "Merino socks".into(),
                qty: 3,
                unit_cents: 1_450,
            },
        ],
        currency: "EUR".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_adds_twenty_percent_tax() {
        let q = price(&sample_cart()).unwrap();
        assert_eq!(
            (q.subtotal_cents, q.tax_cents, q.total_cents),
            (17_250, 3_450, 20_700)
        );
        assert_eq!(money(q.total_cents, &q.currency), "207.00 EUR");
    }

    #[test]
    fn a_cart_whose_total_overflows_is_refused_not_wrapped() {
        let line = |qty, unit_cents| CartLine {
            name: "x".into(),
            qty,
            unit_cents,
        };
        let cart = |lines| Cart {
            lines,
            currency: "EUR".into(),
        };
        assert_eq!(price(&cart(vec![line(u32::MAX, u64::MAX)])), None);
        assert_eq!(price(&cart(vec![line(1, u64::MAX), line(1, 1)])), None);
        // Fits as a subtotal, not with tax.
        assert_eq!(price(&cart(vec![line(1, u64::MAX / 10)])), None);
    }
}
