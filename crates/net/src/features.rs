//! Feature bits as Core Lightning shows them.

/// Our own feature bits, big-endian bitmaps.
#[derive(Clone, Debug)]
pub struct OurFeatures {
    pub init: Vec<u8>,
    pub node: Vec<u8>,
}

/// LDK keeps feature bits little-endian; CLN shows them big-endian without leading zeros.
pub(crate) fn be_bytes(le_flags: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = le_flags.iter().rev().copied().collect();
    while v.first() == Some(&0) {
        v.remove(0);
    }
    v
}

impl OurFeatures {
    /// From LDK's bitmaps (e.g. what the channel manager will advertise, computed before
    /// it starts).
    pub fn from_ldk(
        init: &lightning::types::features::InitFeatures,
        node: &lightning::types::features::NodeFeatures,
    ) -> OurFeatures {
        OurFeatures {
            init: be_bytes(init.le_flags()),
            node: be_bytes(node.le_flags()),
        }
    }
}
