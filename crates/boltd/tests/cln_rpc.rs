//! Core Lightning's own Rust client (`cln-rpc`) drives boltd over one connection and gets
//! typed responses: the shapes match what CLN's schema-generated model requires.

mod common;

use std::time::Duration;

use cln_rpc::model::requests::{GetinfoRequest, HelpRequest, ListconfigsRequest, StopRequest};
use cln_rpc::model::responses::StopResult;
use cln_rpc::ClnRpc;
use common::Daemon;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cln_rpc_typed_calls_on_one_connection() {
    let mut d = Daemon::start(&["--alias=typed", "--log-file=-"]);
    let mut rpc = ClnRpc::new(d.socket()).await.unwrap();

    let mut ids = vec![];
    for _ in 0..25 {
        let info = rpc.call_typed(&GetinfoRequest {}).await.unwrap();
        assert_eq!(info.alias, "typed");
        assert_eq!(info.network, "regtest");
        assert_eq!(info.lightning_dir, d.net_dir().display().to_string());
        assert!(info.our_features.is_some());
        ids.push(info.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);

    let cfg = rpc
        .call_typed(&ListconfigsRequest { config: None })
        .await
        .unwrap()
        .configs
        .unwrap();
    assert_eq!(cfg.alias.unwrap().value_str, "typed");
    assert_eq!(cfg.network.unwrap().value_str, "regtest");
    assert_eq!(cfg.rpc_file_mode.unwrap().value_str, "0600");
    let logs = cfg.log_file.unwrap();
    assert_eq!(
        (logs.values_str, logs.sources),
        (
            vec!["log".to_string(), "-".to_string()],
            vec!["cmdline".to_string(), "cmdline".to_string()]
        )
    );
    assert!(!cfg.daemon.unwrap().set);

    let one = rpc
        .call_typed(&ListconfigsRequest {
            config: Some("alias".into()),
        })
        .await
        .unwrap()
        .configs
        .unwrap();
    assert!(one.alias.is_some() && one.network.is_none());

    let help = rpc
        .call_typed(&HelpRequest { command: None })
        .await
        .unwrap();
    assert!(help.help.iter().any(|h| h.command == "getinfo "));
    let help = rpc
        .call_typed(&HelpRequest {
            command: Some("stop".into()),
        })
        .await
        .unwrap();
    assert_eq!(help.help.len(), 1);

    // Errors come back as cln-rpc errors with CLN's code and message.
    let err = rpc
        .call_raw::<serde_json::Value, _>("nosuchcommand", &serde_json::json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.code, Some(-32601));
    assert_eq!(err.message, "Unknown command 'nosuchcommand'");

    let stop = rpc.call_typed(&StopRequest {}).await.unwrap();
    assert!(matches!(stop.result, StopResult::SHUTDOWN_COMPLETE));
    let status = tokio::task::spawn_blocking(move || {
        let s = d.wait_exit(Duration::from_secs(10));
        (s, d)
    })
    .await
    .unwrap();
    assert_eq!(status.0.code(), Some(0));
    assert!(!status.1.socket().exists());
}
