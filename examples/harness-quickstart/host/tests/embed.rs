//! Test your own widget: the host embeds it and calls it, then refuses the
//! frame once it shows the widget from an origin it does not allow; in
//! Chromium and Firefox.
use bus_harness::{BrowserKind, Harness, Origins, Serve, WasmApp, hook, shared};

fn harness(kind: BrowserKind) -> &'static Harness {
    shared(kind, || {
        let host = WasmApp::new("quickstart-host")
            .features(["test-hook"])
            .build()?;
        let widget = WasmApp::new("quickstart-widget").build()?;
        Ok(Origins::new()
            .add("host", Serve::dir(host).page("quickstart-host"))
            .add("widget", Serve::dir(&widget).page("quickstart-widget"))
            .add("impostor", Serve::dir(&widget).page("quickstart-widget")))
    })
}

fn embed_call_refuse(kind: BrowserKind) {
    harness(kind).run("embed_call_refuse", |t| async move {
        t.goto(&t.url("host", "/")).await?;
        let sum: i32 = t.eval(t.page(), "app.then((app) => app.add(2, 3))").await?;
        assert_eq!(sum, 5, "the widget's answer");
        // The frame goes to the widget on an origin the host does not allow.
        let go = format!("widget.src = '{}/'", t.origin("impostor"));
        t.eval::<String>(t.page(), &go).await?;
        let refused = |c: &[hook::BusConnection]| c[0].rejected_by("disallowed-origin") > 0;
        let conns = hook::wait(t.page(), 5_000, refused).await?;
        assert_ne!(conns[0].state_kind, "connected", "talks to the impostor");
        Ok(())
    });
}

#[test]
fn chromium() {
    embed_call_refuse(BrowserKind::Chromium);
}

#[test]
fn firefox() {
    embed_call_refuse(BrowserKind::Firefox);
}
