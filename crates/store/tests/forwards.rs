//! The forwards table: one row per incoming HTLC, status changes numbered, listings
//! filtered and paged, settled fees summed, all surviving a reopen.

use std::sync::Arc;

use serde_json::json;
use store::{ForwardFields, ForwardQuery, NoHook, Store};

fn fields(status: &str, out: Option<&str>, fee: Option<u64>) -> ForwardFields {
    ForwardFields {
        in_channel: "1x1x0".into(),
        out_channel: out.map(str::to_string),
        status: status.into(),
        fee_msat: fee,
        record: json!({"status": status}),
    }
}

#[test]
fn forwards_record_update_list_and_sum_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("boltd.sqlite3");
    {
        let mut s = Store::open_sqlite(&path, Arc::new(NoHook)).unwrap();
        let a = s
            .forward_insert("aa/0", &fields("offered", Some("2x1x0"), Some(10)))
            .unwrap()
            .unwrap();
        assert_eq!((a.created_index, a.updated_index), (1, None));
        // The same incoming HTLC is recorded once.
        assert!(s
            .forward_insert("aa/0", &fields("offered", None, None))
            .unwrap()
            .is_none());
        s.forward_insert("aa/1", &fields("local_failed", None, None))
            .unwrap()
            .unwrap();
        s.forward_insert("bb/0", &fields("offered", Some("3x1x0"), Some(7)))
            .unwrap()
            .unwrap();
        let u = s
            .forward_update("aa/0", |_| Some(fields("settled", Some("2x1x0"), Some(10))))
            .unwrap()
            .unwrap();
        assert_eq!((u.created_index, u.updated_index), (1, Some(1)));
        // A change the caller declines writes nothing.
        assert!(s.forward_update("aa/0", |_| None).unwrap().is_none());
        assert!(s
            .forward_update("zz/9", |_| Some(fields("failed", None, None)))
            .unwrap()
            .is_none());
        s.forward_update("bb/0", |_| Some(fields("failed", Some("3x1x0"), Some(7))))
            .unwrap()
            .unwrap();
    }
    let mut s = Store::open_sqlite(&path, Arc::new(NoHook)).unwrap();
    assert_eq!(s.forwards_fees_collected().unwrap(), 10);
    let all = s.forwards_list(&ForwardQuery::default()).unwrap();
    assert_eq!(
        all.iter().map(|f| f.status.as_str()).collect::<Vec<_>>(),
        ["settled", "local_failed", "failed"]
    );
    assert_eq!(all[0].record, json!({"status": "settled"}));
    let q = |q: ForwardQuery| {
        let mut s = Store::open_sqlite(&path, Arc::new(NoHook)).unwrap();
        s.forwards_list(&q)
            .unwrap()
            .iter()
            .map(|f| f.created_index)
            .collect::<Vec<_>>()
    };
    drop(s);
    assert_eq!(
        q(ForwardQuery {
            out_channel: Some("3x1x0".into()),
            ..Default::default()
        }),
        [3]
    );
    assert_eq!(
        q(ForwardQuery {
            status: Some("local_failed".into()),
            in_channel: Some("1x1x0".into()),
            ..Default::default()
        }),
        [2]
    );
    assert_eq!(
        q(ForwardQuery {
            start: 2,
            limit: Some(1),
            ..Default::default()
        }),
        [2]
    );
    // By updated_index: only rows that changed, in the order they changed.
    assert_eq!(
        q(ForwardQuery {
            by_updated: true,
            ..Default::default()
        }),
        [1, 3]
    );
    let mut s = Store::open_sqlite(&path, Arc::new(NoHook)).unwrap();
    assert_eq!(s.forwards_offered().unwrap().len(), 0);
    assert_eq!(s.forward_get("bb/0").unwrap().unwrap().status, "failed");
}
