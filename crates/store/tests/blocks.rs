//! The recent-blocks window: a reorg and a slide in one change, surviving a reopen.

use std::sync::Arc;

use store::{BlocksChange, NoHook, Store};

fn h(n: u8) -> [u8; 32] {
    [n; 32]
}

#[test]
fn blocks_window_applies_reorgs_and_slides_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("boltd.sqlite3");
    {
        let mut s = Store::open_sqlite(&path, Arc::new(NoHook)).unwrap();
        assert!(s.blocks().unwrap().is_empty());
        s.apply_blocks(&BlocksChange {
            add: (1..=5).map(|i| (i, h(i as u8))).collect(),
            ..Default::default()
        })
        .unwrap();
        // Reorg at 3: 4 and 5 go, 4' and 5' and 6' come, the window keeps 3 blocks.
        s.apply_blocks(&BlocksChange {
            remove_above: Some(3),
            add: vec![(4, h(44)), (5, h(55)), (6, h(66))],
            remove_below: Some(4),
        })
        .unwrap();
    }
    let mut s = Store::open_sqlite(&path, Arc::new(NoHook)).unwrap();
    assert_eq!(
        s.blocks().unwrap(),
        vec![(4, h(44)), (5, h(55)), (6, h(66))]
    );
}
