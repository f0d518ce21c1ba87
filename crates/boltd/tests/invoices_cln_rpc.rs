//! The invoice commands through Core Lightning's own Rust client (`cln-rpc`): boltd's
//! replies deserialize into CLN's typed responses (the shapes a cln-rpc user relies on).

mod common;

use cln_rpc::model::requests::{
    DecodeRequest, DelinvoiceRequest, DelinvoiceStatus, InvoiceRequest, ListinvoicesIndex,
    ListinvoicesRequest, WaitanyinvoiceRequest, WaitinvoiceRequest,
};
use cln_rpc::model::responses::{DecodeType, ListinvoicesInvoicesStatus};
use cln_rpc::primitives::{Amount, AmountOrAny};
use cln_rpc::ClnRpc;
use common::Daemon;

fn invoice(label: &str, amount: AmountOrAny, expiry: Option<u64>) -> InvoiceRequest {
    InvoiceRequest {
        cltv: None,
        deschashonly: None,
        expiry,
        preimage: None,
        exposeprivatechannels: None,
        fallbacks: None,
        amount_msat: amount,
        description: format!("for {label}"),
        label: label.into(),
    }
}

fn list() -> ListinvoicesRequest {
    ListinvoicesRequest {
        index: None,
        invstring: None,
        label: None,
        limit: None,
        offer_id: None,
        payment_hash: None,
        start: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoice_commands_through_cln_rpc_typed_api() {
    let d = Daemon::start(&[]);
    let mut rpc = ClnRpc::new(d.socket()).await.unwrap();

    let a = rpc
        .call_typed(&invoice(
            "a",
            AmountOrAny::Amount(Amount::from_msat(42_000)),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(a.created_index, 1);
    assert!(a.warning_capacity.is_some());
    let b = rpc
        .call_typed(&invoice("b", AmountOrAny::Any, Some(1)))
        .await
        .unwrap();
    assert_eq!(b.created_index, 2);

    let all = rpc.call_typed(&list()).await.unwrap().invoices;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].label, "a");
    assert_eq!(all[0].amount_msat, Some(Amount::from_msat(42_000)));
    assert_eq!(all[0].payment_hash, a.payment_hash);
    assert_eq!(all[0].bolt11.as_deref(), Some(a.bolt11.as_str()));
    assert!(matches!(all[0].status, ListinvoicesInvoicesStatus::UNPAID));
    assert_eq!(all[1].amount_msat, None);

    let page = rpc
        .call_typed(&ListinvoicesRequest {
            index: Some(ListinvoicesIndex::CREATED),
            start: Some(2),
            limit: Some(5),
            ..list()
        })
        .await
        .unwrap()
        .invoices;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].label, "b");

    let dec = rpc
        .call_typed(&DecodeRequest {
            string: a.bolt11.clone(),
        })
        .await
        .unwrap();
    assert!(matches!(dec.item_type, DecodeType::BOLT11_INVOICE));
    assert!(dec.valid);
    assert_eq!(dec.amount_msat, Some(Amount::from_msat(42_000)));
    assert_eq!(dec.payment_hash, Some(a.payment_hash));
    assert_eq!(
        dec.payment_secret.map(|s| s.to_vec()),
        Some(a.payment_secret.to_vec())
    );
    assert_eq!(dec.description.as_deref(), Some("for a"));

    // b expires after a second: waitinvoice says so with CLN's code.
    let err = rpc
        .call_typed(&WaitinvoiceRequest { label: "b".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code, Some(903));
    let err = rpc
        .call_typed(&WaitanyinvoiceRequest {
            lastpay_index: None,
            timeout: Some(0),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, Some(904));

    let gone = rpc
        .call_typed(&DelinvoiceRequest {
            desconly: None,
            status: DelinvoiceStatus::EXPIRED,
            label: "b".into(),
        })
        .await
        .unwrap();
    assert_eq!(gone.label, "b");
    assert_eq!(gone.payment_hash, b.payment_hash);
    let kept = rpc
        .call_typed(&DelinvoiceRequest {
            desconly: Some(true),
            status: DelinvoiceStatus::UNPAID,
            label: "a".into(),
        })
        .await
        .unwrap();
    assert_eq!((kept.description, kept.updated_index), (None, Some(1)));
}
