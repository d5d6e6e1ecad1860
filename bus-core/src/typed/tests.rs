use super::*;

const ADD: Method<(i32, i32), i32> = Method::new("calc.add");
const FAIL: Method<(), ()> = Method::new("calc.fail");

fn router() -> Router {
    let mut r = Router::new();
    r.route(ADD, |(a, b)| Ok(a + b));
    r.route(FAIL, |()| Err(RemoteError::new(7, "broken")));
    r
}

#[test]
fn router_runs_typed_handler() {
    let out = router()
        .dispatch("calc.add", &ADD.encode_request(&(2, 40)).unwrap())
        .unwrap();
    assert_eq!(ADD.decode_response(&out).unwrap(), 42);
}

#[test]
fn router_reports_unknown_method() {
    let err = router().dispatch("calc.mul", &[]).unwrap_err();
    assert_eq!(err.code(), RemoteError::METHOD_NOT_FOUND);
    assert!(err.message().contains("calc.mul"));
}

#[test]
fn router_reports_undecodable_request() {
    let err = router().dispatch("calc.add", &[0xFF]).unwrap_err();
    assert_eq!(err.code(), RemoteError::BAD_REQUEST);
}

#[test]
fn router_passes_handler_error_through() {
    assert_eq!(
        router().dispatch("calc.fail", &[]).unwrap_err(),
        RemoteError::new(7, "broken")
    );
}
