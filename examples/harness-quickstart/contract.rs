// The quickstart's contract, shared by host and widget (`#[path]` include):
// one typed method.
use bus_web::Method;

/// Adds two numbers, in the widget.
pub const ADD: Method<(i32, i32), i32> = Method::new("quickstart.add");
