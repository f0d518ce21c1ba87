//! What the daemon sees of HTLCs LDK forwards on its own: LDK's forward events name the
//! incoming HTLC but not its payment hash, and nothing is said when an outgoing HTLC is
//! offered. The event loop shows the channels' pending HTLCs to a [`HtlcWatch`] around
//! each `process_pending_htlc_forwards` (every forward passes through it), only when
//! something is waiting there.

use lightning::ln::channel_state::ChannelDetails;

pub trait HtlcWatch: Send + Sync {
    /// Before LDK forwards what arrived: the channels with their pending inbound HTLCs.
    /// True if something new arrived, to be shown the channels again afterwards.
    fn before_forwards(&self, channels: &[ChannelDetails]) -> bool;
    /// After LDK forwarded: the outgoing HTLCs it offered are among the channels'
    /// pending outbound HTLCs.
    fn after_forwards(&self, channels: &[ChannelDetails]);
}
