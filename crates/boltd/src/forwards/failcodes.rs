//! BOLT 4 failure codes: the one LDK gives a local failure (its reason enum does not expose
//! the code) and Core Lightning's `WIRE_*` name of a code (`failreason`).

use lightning::events::HTLCHandlingFailureReason;

const BADONION: u16 = 0x8000;
const PERM: u16 = 0x4000;
const NODE: u16 = 0x2000;
const UPDATE: u16 = 0x1000;

pub const UNKNOWN_NEXT_PEER: u16 = PERM | 10;
pub const TEMPORARY_CHANNEL_FAILURE: u16 = UPDATE | 7;

/// The code LDK sends back for a local failure (as its `LocalHTLCFailureReason` maps it).
pub fn local_code(reason: &HTLCHandlingFailureReason) -> Option<u16> {
    use lightning::ln::onion_utils::LocalHTLCFailureReason as R;
    let HTLCHandlingFailureReason::Local { reason } = reason else {
        return None;
    };
    Some(match reason {
        R::TemporaryNodeFailure | R::ForwardExpiryBuffer => NODE | 2,
        R::PermanentNodeFailure => PERM | NODE | 2,
        R::RequiredNodeFeature | R::PaymentSecretRequired => PERM | NODE | 3,
        R::InvalidOnionVersion => BADONION | PERM | 4,
        R::InvalidOnionHMAC => BADONION | PERM | 5,
        R::InvalidOnionKey => BADONION | PERM | 6,
        R::PermanentChannelFailure | R::ChannelClosed | R::OnChainTimeout => PERM | 8,
        R::RequiredChannelFeature => PERM | 9,
        R::UnknownNextPeer
        | R::PrivateChannelForward
        | R::RealSCIDForward
        | R::InvalidTrampolineForward => UNKNOWN_NEXT_PEER,
        R::AmountBelowMinimum => UPDATE | 11,
        R::FeeInsufficient => UPDATE | 12,
        R::IncorrectCLTVExpiry => UPDATE | 13,
        R::CLTVExpiryTooSoon | R::OutgoingCLTVTooSoon => UPDATE | 14,
        R::IncorrectPaymentDetails | R::PaymentClaimBuffer | R::InvalidKeysendPreimage => PERM | 15,
        R::FinalIncorrectCLTVExpiry => 18,
        R::FinalIncorrectHTLCAmount => 19,
        R::ChannelDisabled => UPDATE | 20,
        R::CLTVExpiryTooFar => 21,
        R::InvalidOnionPayload | R::InvalidTrampolinePayload => PERM | 22,
        R::MPPTimeout => 23,
        R::InvalidOnionBlinding => BADONION | PERM | 24,
        R::TemporaryTrampolineFailure => NODE | 25,
        R::TrampolineFeeOrExpiryInsufficient => NODE | 26,
        R::UnknownNextTrampoline => PERM | 27,
        R::UnknownFailureCode { code } => *code,
        // The rest are channel conditions LDK reports as a temporary channel failure.
        _ => TEMPORARY_CHANNEL_FAILURE,
    })
}

/// Core Lightning's name for a failure code.
pub fn name(code: u16) -> String {
    let n = match code {
        c if c == BADONION | PERM | 4 => "WIRE_INVALID_ONION_VERSION",
        c if c == BADONION | PERM | 5 => "WIRE_INVALID_ONION_HMAC",
        c if c == BADONION | PERM | 6 => "WIRE_INVALID_ONION_KEY",
        c if c == BADONION | PERM | 24 => "WIRE_INVALID_ONION_BLINDING",
        c if c == NODE | 2 => "WIRE_TEMPORARY_NODE_FAILURE",
        c if c == PERM | NODE | 2 => "WIRE_PERMANENT_NODE_FAILURE",
        c if c == PERM | NODE | 3 => "WIRE_REQUIRED_NODE_FEATURE_MISSING",
        c if c == UPDATE | 7 => "WIRE_TEMPORARY_CHANNEL_FAILURE",
        c if c == PERM | 8 => "WIRE_PERMANENT_CHANNEL_FAILURE",
        c if c == PERM | 9 => "WIRE_REQUIRED_CHANNEL_FEATURE_MISSING",
        c if c == PERM | 10 => "WIRE_UNKNOWN_NEXT_PEER",
        c if c == UPDATE | 11 => "WIRE_AMOUNT_BELOW_MINIMUM",
        c if c == UPDATE | 12 => "WIRE_FEE_INSUFFICIENT",
        c if c == UPDATE | 13 => "WIRE_INCORRECT_CLTV_EXPIRY",
        c if c == UPDATE | 14 => "WIRE_EXPIRY_TOO_SOON",
        c if c == PERM | 15 => "WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS",
        18 => "WIRE_FINAL_INCORRECT_CLTV_EXPIRY",
        19 => "WIRE_FINAL_INCORRECT_HTLC_AMOUNT",
        c if c == UPDATE | 20 => "WIRE_CHANNEL_DISABLED",
        21 => "WIRE_EXPIRY_TOO_FAR",
        c if c == PERM | 22 => "WIRE_INVALID_ONION_PAYLOAD",
        23 => "WIRE_MPP_TIMEOUT",
        _ => return format!("Unknown failure code {code}"),
    };
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightning::ln::onion_utils::LocalHTLCFailureReason as R;

    #[test]
    fn codes_and_names_follow_bolt4() {
        let local = |r: R| local_code(&HTLCHandlingFailureReason::Local { reason: r });
        assert_eq!(local(R::UnknownNextPeer), Some(0x400a));
        assert_eq!(local(R::FeeInsufficient), Some(0x100c));
        assert_eq!(local(R::TemporaryChannelFailure), Some(0x1007));
        assert_eq!(local_code(&HTLCHandlingFailureReason::Downstream), None);
        assert_eq!(name(0x400a), "WIRE_UNKNOWN_NEXT_PEER");
        assert_eq!(name(0x1007), "WIRE_TEMPORARY_CHANNEL_FAILURE");
        assert_eq!(name(0x400f), "WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS");
        assert_eq!(name(0x2002), "WIRE_TEMPORARY_NODE_FAILURE");
    }
}
