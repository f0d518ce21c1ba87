//! The `invoice_payment` hook with a real pyln-client plugin: the payload it receives is
//! Core Lightning's, and each reply (`continue`, `reject`, `failure_message`, garbage)
//! means what it means in CLN (reference §5.3).

mod common;

use common::*;
use plugins::hooks::{
    InvoicePayment, InvoicePaymentInfo, InvoicePaymentOutcome, InvoicePaymentPayload,
};
use plugins::PluginSpec;
use serde_json::json;

fn payload() -> InvoicePaymentPayload {
    InvoicePaymentPayload {
        payment: InvoicePaymentInfo {
            label: "lbl".into(),
            preimage: "ab".repeat(32),
            msat: 12345,
            extratlvs: None,
        },
    }
}

fn copy_as(dir: &std::path::Path, name: &str, mode: &str) -> Option<std::path::PathBuf> {
    let python = pyln_python()?;
    let copy = dir.join(format!("{name}.py"));
    std::fs::copy(repo().join("tests/plugins/invoice_payment_hook.py"), &copy).unwrap();
    std::fs::write(format!("{}.mode", copy.display()), mode).unwrap();
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nexec {} {} \"$@\"\n",
            python.display(),
            copy.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    Some(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoice_payment_replies_from_a_pyln_plugin() {
    let e = env();
    let Some(p) = copy_as(e.path(), "payhook", "continue") else {
        return;
    };
    e.host
        .load_startup(vec![PluginSpec {
            path: p,
            important: false,
        }])
        .await
        .unwrap();
    assert!(e.host.init_all().await.is_empty());

    let out = e.host.call_hook::<InvoicePayment>(&payload(), None).await;
    assert_eq!(out, InvoicePaymentOutcome::Claim);
    let seen = call(&e.host, "invoice_payments_seen", json!({})).await;
    assert_eq!(
        seen["result"]["seen"],
        json!([{"label": "lbl", "preimage": "ab".repeat(32), "msat": 12345}])
    );

    std::fs::write(e.path().join("payhook.py.mode"), "reject").unwrap();
    let out = e.host.call_hook::<InvoicePayment>(&payload(), None).await;
    assert_eq!(out, InvoicePaymentOutcome::Reject);

    std::fs::write(e.path().join("payhook.py.mode"), "fail:2002").unwrap();
    let out = e.host.call_hook::<InvoicePayment>(&payload(), None).await;
    assert_eq!(out, InvoicePaymentOutcome::Fail(vec![0x20, 0x02]));

    // CLN would fatal(); boltd logs it as broken and fails the payment (the safe side).
    std::fs::write(e.path().join("payhook.py.mode"), "garbage").unwrap();
    let out = e.host.call_hook::<InvoicePayment>(&payload(), None).await;
    assert_eq!(out, InvoicePaymentOutcome::Reject);
    assert!(wait_log("Invalid invoice_payment hook result").await);
}

/// A hand-written plugin that records every method it is sent, in order.
const ORDER_PLUGIN: &str = r#"
import json, sys
seen = []
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    m = json.loads(line)
    seen.append(m.get("method"))
    r = None
    if m.get("method") == "getmanifest":
        r = {"options": [], "rpcmethods": [{"name": "methods_seen", "usage": "", "description": "x"}],
             "hooks": [{"name": "invoice_payment"}], "dynamic": True}
    elif m.get("method") == "init":
        r = {}
    elif m.get("method") == "invoice_payment":
        r = {"result": "continue"}
    elif m.get("method") == "methods_seen":
        r = {"seen": seen}
    if "id" in m:
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}) + "\n\n")
        sys.stdout.flush()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_call_made_before_init_waits_for_init() {
    let e = env();
    let Some(python) = pyln_python() else {
        return;
    };
    let script = e.path().join("order.py");
    std::fs::write(&script, ORDER_PLUGIN).unwrap();
    let path = e.path().join("order");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nexec {} {} \"$@\"\n",
            python.display(),
            script.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    e.host
        .load_startup(vec![PluginSpec {
            path,
            important: false,
        }])
        .await
        .unwrap();
    // As an HTLC LDK replays at start-up: the hook is called before plugins' `init`.
    let host = e.host.clone();
    let early =
        tokio::spawn(async move { host.call_hook::<InvoicePayment>(&payload(), None).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(e.host.init_all().await.is_empty());
    assert_eq!(early.await.unwrap(), InvoicePaymentOutcome::Claim);
    let seen = call(&e.host, "methods_seen", json!({})).await;
    assert_eq!(
        seen["result"]["seen"],
        json!(["getmanifest", "init", "invoice_payment", "methods_seen"])
    );
}
