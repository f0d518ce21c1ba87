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
