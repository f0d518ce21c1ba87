//! `decode` (and `listinvoices invstring=`): any string a client sends as a BOLT 11
//! invoice. Properties: nothing panics; a string that decodes renders with CLN's fixed
//! fields, and its payment hash is the one `listinvoices` would look up.
#![no_main]

use boltd::invoices::decode::{decode, decode_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match decode(s) {
        Ok(d) => {
            let j = decode_json(&d);
            assert_eq!(j["type"], "bolt11 invoice");
            assert_eq!(j["payment_hash"], hex::encode(d.payment_hash));
            assert!(j["signature"].as_str().is_some_and(|s| !s.is_empty()));
            assert!(j["payee"].as_str().is_some_and(|s| s.len() == 66));
        }
        Err(why) => assert!(!why.is_empty()),
    }
});
