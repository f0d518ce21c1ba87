//! The public network as Core Lightning's topology plugin shows it: `listchannels` and
//! `listnodes` rows from LDK's network graph ([`views`]), and our own `node_announcement`
//! (alias, color, announced addresses) sent once we have a public channel and again
//! periodically ([`announce`]). Routing itself is LDK's (`getroute`, `sendpay` use it
//! through `payments`); nothing here changes the graph.

pub mod announce;
pub mod views;

/// Feature bits as Core Lightning prints them: big-endian hex, no leading zero bytes.
pub fn features_hex(le_flags: &[u8]) -> String {
    let be: Vec<u8> = le_flags
        .iter()
        .rev()
        .copied()
        .skip_while(|b| *b == 0)
        .collect();
    hex::encode(be)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_big_endian_without_leading_zeros() {
        assert_eq!(features_hex(&[]), "");
        assert_eq!(features_hex(&[0x02, 0xa0, 0x00]), "a002");
    }
}
