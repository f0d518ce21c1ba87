//! Datastore rules, as Core Lightning's lightningd/datastore.c has them.

use std::sync::Arc;

use store::{format_key, DatastoreEntry, DatastoreError, Mode, NoHook, Store};

fn k(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_sqlite(&dir.path().join("db.sqlite3"), Arc::new(NoHook)).unwrap();
    (dir, s)
}

fn leaf(key: &[&str], data: &[u8], generation: u64) -> DatastoreEntry {
    DatastoreEntry {
        key: k(key),
        data: Some(data.to_vec()),
        generation: Some(generation),
    }
}

fn parent(key: &[&str]) -> DatastoreEntry {
    DatastoreEntry {
        key: k(key),
        data: None,
        generation: None,
    }
}

#[test]
fn must_create_creates_at_generation_0_and_refuses_an_existing_key() {
    let (_d, mut s) = open();
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"1", Mode::MustCreate, None),
        Ok(leaf(&["a"], b"1", 0))
    );
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"2", Mode::MustCreate, None),
        Err(DatastoreError::AlreadyExists)
    );
    assert_eq!(
        s.datastore_list(Some(&k(&["a"]))).unwrap(),
        vec![leaf(&["a"], b"1", 0)]
    );
}

#[test]
fn must_replace_needs_the_key_and_bumps_generation() {
    let (_d, mut s) = open();
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"1", Mode::MustReplace, None),
        Err(DatastoreError::DoesNotExist)
    );
    s.datastore_put(&k(&["a"]), b"1", Mode::MustCreate, None)
        .unwrap();
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"2", Mode::MustReplace, None),
        Ok(leaf(&["a"], b"2", 1))
    );
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"3", Mode::MustReplace, None),
        Ok(leaf(&["a"], b"3", 2))
    );
}

#[test]
fn create_or_replace_never_fails_on_existence() {
    let (_d, mut s) = open();
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"1", Mode::CreateOrReplace, None),
        Ok(leaf(&["a"], b"1", 0))
    );
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"2", Mode::CreateOrReplace, None),
        Ok(leaf(&["a"], b"2", 1))
    );
}

#[test]
fn must_append_needs_the_key_and_appends() {
    let (_d, mut s) = open();
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"1", Mode::MustAppend, None),
        Err(DatastoreError::DoesNotExist)
    );
    s.datastore_put(&k(&["a"]), b"ab", Mode::MustCreate, None)
        .unwrap();
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"cd", Mode::MustAppend, None),
        Ok(leaf(&["a"], b"abcd", 1))
    );
}

#[test]
fn create_or_append_creates_then_appends() {
    let (_d, mut s) = open();
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"ab", Mode::CreateOrAppend, None),
        Ok(leaf(&["a"], b"ab", 0))
    );
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"cd", Mode::CreateOrAppend, None),
        Ok(leaf(&["a"], b"abcd", 1))
    );
}

#[test]
fn generation_is_checked_and_only_allowed_with_modes_that_need_the_key() {
    let (_d, mut s) = open();
    s.datastore_put(&k(&["a"]), b"1", Mode::MustCreate, None)
        .unwrap();
    s.datastore_put(&k(&["a"]), b"2", Mode::MustReplace, None)
        .unwrap();
    for m in [
        Mode::MustCreate,
        Mode::CreateOrReplace,
        Mode::CreateOrAppend,
    ] {
        assert_eq!(
            s.datastore_put(&k(&["a"]), b"x", m, Some(1)),
            Err(DatastoreError::GenerationNeedsExisting)
        );
    }
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"x", Mode::MustReplace, Some(0)),
        Err(DatastoreError::WrongGeneration)
    );
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"x", Mode::MustAppend, Some(7)),
        Err(DatastoreError::WrongGeneration)
    );
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"3", Mode::MustReplace, Some(1)),
        Ok(leaf(&["a"], b"3", 2))
    );
    assert_eq!(
        s.datastore_put(&k(&["a"]), b"4", Mode::MustAppend, Some(2)),
        Ok(leaf(&["a"], b"34", 3))
    );
    assert_eq!(
        s.datastore_put(&k(&["missing"]), b"x", Mode::MustReplace, Some(0)),
        Err(DatastoreError::DoesNotExist)
    );
    let messages = [
        DatastoreError::GenerationNeedsExisting.to_string(),
        DatastoreError::WrongGeneration.to_string(),
    ];
    assert_eq!(
        messages,
        [
            "generation only valid with must-replace or must-append",
            "generation is different"
        ]
    );
}

#[test]
fn a_key_is_either_a_leaf_or_a_parent() {
    let (_d, mut s) = open();
    s.datastore_put(&k(&["a", "b", "c"]), b"1", Mode::MustCreate, None)
        .unwrap();
    for key in [k(&["a"]), k(&["a", "b"])] {
        for m in [
            Mode::MustCreate,
            Mode::CreateOrReplace,
            Mode::CreateOrAppend,
            Mode::MustReplace,
        ] {
            assert_eq!(
                s.datastore_put(&key, b"x", m, None),
                Err(DatastoreError::HasChildren)
            );
        }
    }
    assert_eq!(
        s.datastore_put(&k(&["a", "b", "c", "d"]), b"x", Mode::MustCreate, None),
        Err(DatastoreError::ParentExists("[a,b,c]".into()))
    );
    assert_eq!(
        DatastoreError::ParentExists(format_key(&k(&["a", "b", "c"]))).to_string(),
        "Parent key [a,b,c] exists"
    );
    assert_eq!(
        DatastoreError::HasChildren.to_string(),
        "Key has children already"
    );
    // A sibling whose name merely starts with the same bytes is no child.
    s.datastore_put(&k(&["ab"]), b"y", Mode::MustCreate, None)
        .unwrap();
    s.datastore_put(&k(&["a", "b", "cd"]), b"y", Mode::MustCreate, None)
        .unwrap();
    // Once the children are gone the parent can hold a value.
    s.datastore_del(&k(&["a", "b", "c"]), None).unwrap();
    s.datastore_del(&k(&["a", "b", "cd"]), None).unwrap();
    assert_eq!(
        s.datastore_put(&k(&["a", "b"]), b"z", Mode::MustCreate, None),
        Ok(leaf(&["a", "b"], b"z", 0))
    );
}

#[test]
fn deldatastore_checks_existence_and_generation_and_returns_the_old_value() {
    let (_d, mut s) = open();
    assert_eq!(
        s.datastore_del(&k(&["a"]), None),
        Err(DatastoreError::DoesNotExist)
    );
    s.datastore_put(&k(&["a", "b"]), b"1", Mode::MustCreate, None)
        .unwrap();
    assert_eq!(
        s.datastore_del(&k(&["a"]), None),
        Err(DatastoreError::DoesNotExist),
        "parents hold no value"
    );
    s.datastore_put(&k(&["a", "b"]), b"2", Mode::MustReplace, None)
        .unwrap();
    assert_eq!(
        s.datastore_del(&k(&["a", "b"]), Some(0)),
        Err(DatastoreError::WrongGeneration)
    );
    assert_eq!(
        s.datastore_del(&k(&["a", "b"]), Some(1)),
        Ok(leaf(&["a", "b"], b"2", 1))
    );
    assert_eq!(s.datastore_list(None).unwrap(), vec![]);
}

#[test]
fn listing_shows_direct_children_and_one_summary_per_deeper_subtree() {
    let (_d, mut s) = open();
    for key in [
        k(&["a", "x"]),
        k(&["a", "y", "1"]),
        k(&["a", "y", "2"]),
        k(&["a", "z", "1", "deep"]),
        k(&["b"]),
        k(&["ab"]),
    ] {
        s.datastore_put(&key, b"v", Mode::MustCreate, None).unwrap();
    }
    assert_eq!(
        s.datastore_list(None).unwrap(),
        vec![
            parent(&["a"]),
            leaf(&["ab"], b"v", 0),
            leaf(&["b"], b"v", 0)
        ]
    );
    assert_eq!(
        s.datastore_list(Some(&k(&["a"]))).unwrap(),
        vec![
            leaf(&["a", "x"], b"v", 0),
            parent(&["a", "y"]),
            parent(&["a", "z"])
        ]
    );
    assert_eq!(
        s.datastore_list(Some(&k(&["a", "y"]))).unwrap(),
        vec![
            leaf(&["a", "y", "1"], b"v", 0),
            leaf(&["a", "y", "2"], b"v", 0)
        ]
    );
    assert_eq!(
        s.datastore_list(Some(&k(&["a", "x"]))).unwrap(),
        vec![leaf(&["a", "x"], b"v", 0)]
    );
    assert_eq!(s.datastore_list(Some(&k(&["nope"]))).unwrap(), vec![]);
}

#[test]
fn usage_counts_data_key_strings_and_separators() {
    let (_d, mut s) = open();
    s.datastore_put(&k(&["a", "bc"]), b"12345", Mode::MustCreate, None)
        .unwrap();
    s.datastore_put(&k(&["d"]), b"1", Mode::MustCreate, None)
        .unwrap();
    // [a,bc]: 5 + 1 + 2 + 1 separator = 9; [d]: 1 + 1 = 2.
    assert_eq!(s.datastore_usage(None).unwrap(), ("[]".to_string(), 11));
    assert_eq!(
        s.datastore_usage(Some(&k(&["a"]))).unwrap(),
        ("[a]".to_string(), 9)
    );
    assert_eq!(
        s.datastore_usage(Some(&k(&["a", "bc"]))).unwrap(),
        ("[a,bc]".to_string(), 9)
    );
    assert_eq!(
        s.datastore_usage(Some(&k(&["x"]))).unwrap(),
        ("[x]".to_string(), 0)
    );
    // An empty first part means "everything", as in Core Lightning.
    assert_eq!(
        s.datastore_usage(Some(&k(&[""]))).unwrap(),
        ("[]".to_string(), 11)
    );
}

#[test]
fn empty_key_array_is_refused_but_an_empty_string_is_a_key() {
    let (_d, mut s) = open();
    assert_eq!(
        s.datastore_put(&[], b"1", Mode::MustCreate, None),
        Err(DatastoreError::EmptyKey)
    );
    assert_eq!(
        s.datastore_put(&k(&[""]), b"e", Mode::MustCreate, None),
        Ok(leaf(&[""], b"e", 0))
    );
    assert_eq!(
        s.datastore_list(Some(&k(&[""]))).unwrap(),
        vec![leaf(&[""], b"e", 0)]
    );
    assert_eq!(
        s.datastore_put(&k(&["a\0b"]), b"1", Mode::MustCreate, None),
        Err(DatastoreError::NulInKey)
    );
}

#[test]
fn a_key_with_100_parts_round_trips() {
    let (_d, mut s) = open();
    let key: Vec<String> = (0..100).map(|i| format!("part{i}")).collect();
    s.datastore_put(&key, b"deep", Mode::MustCreate, None)
        .unwrap();
    let got = s.datastore_list(Some(&key)).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key, key);
    assert_eq!(s.datastore_list(Some(&key[..99])).unwrap()[0].key, key);
    assert_eq!(s.datastore_list(None).unwrap(), vec![parent(&["part0"])]);
}

#[test]
fn one_mib_value_and_every_byte_value_round_trip() {
    let (_d, mut s) = open();
    let big: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i % 251) as u8).collect();
    s.datastore_put(&k(&["big"]), &big, Mode::MustCreate, None)
        .unwrap();
    let all: Vec<u8> = (0..=255u8).collect();
    s.datastore_put(&k(&["bin"]), &all, Mode::MustCreate, None)
        .unwrap();
    s.datastore_put(&k(&["empty"]), b"", Mode::MustCreate, None)
        .unwrap();
    let got = s.datastore_list(None).unwrap();
    assert_eq!(got[0], leaf(&["big"], &big, 0));
    assert_eq!(got[1], leaf(&["bin"], &all, 0));
    assert_eq!(got[2], leaf(&["empty"], b"", 0));
    s.datastore_put(&k(&["big"]), &big, Mode::MustAppend, None)
        .unwrap();
    assert_eq!(
        s.datastore_usage(Some(&k(&["big"]))).unwrap().1,
        2 * (1 << 20) + 3
    );
}

#[test]
fn peer_addresses_are_remembered_and_updated() {
    let (_d, mut s) = open();
    assert_eq!(s.peer_address("02aa").unwrap(), None);
    s.remember_peer_address("02aa", "127.0.0.1:9735").unwrap();
    s.remember_peer_address("02aa", "127.0.0.1:9736").unwrap();
    assert_eq!(
        s.peer_address("02aa").unwrap().as_deref(),
        Some("127.0.0.1:9736")
    );
}

#[test]
fn the_parent_check_finds_a_leaf_at_any_depth_among_siblings() {
    let (_d, mut s) = open();
    s.datastore_put(&k(&["a", "b"]), b"leaf", Mode::MustCreate, None)
        .unwrap();
    s.datastore_put(&k(&["a", "a", "z"]), b"x", Mode::MustCreate, None)
        .unwrap();
    s.datastore_put(&k(&["a", "b "]), b"x", Mode::MustCreate, None)
        .unwrap();
    let deep: Vec<String> = ["a", "b"]
        .iter()
        .map(|s| s.to_string())
        .chain((0..5000).map(|i| i.to_string()))
        .collect();
    assert_eq!(
        s.datastore_put(&deep, b"x", Mode::MustCreate, None),
        Err(DatastoreError::ParentExists("[a,b]".into()))
    );
    // Siblings sorting just below are not parents.
    s.datastore_put(&k(&["a", "c", "d"]), b"x", Mode::MustCreate, None)
        .unwrap();
    s.datastore_put(&k(&["b"]), b"x", Mode::MustCreate, None)
        .unwrap();
    assert_eq!(
        s.datastore_put(&k(&["b", "c"]), b"x", Mode::MustCreate, None),
        Err(DatastoreError::ParentExists("[b]".into()))
    );
}
