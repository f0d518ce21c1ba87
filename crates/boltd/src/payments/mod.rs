//! Money moving over channels: LDK's payment events carried out against our invoices
//! ([`receive`]), our own payments ([`send`]) and route hints for invoices from our private channels ([`hints`]).
//! It owns no channel state (that is `channels`) and no invoice rules (that is
//! `invoices`): it only connects the two.

pub mod failure;
pub mod hints;
pub mod receive;
pub mod route_json;
pub mod send;

use std::sync::Arc;

use lightning::events::Event;

use crate::invoices::Invoices;

/// What the channel event loop hands payment events to.
pub struct Payments {
    pub invoices: Arc<Invoices>,
    pub sender: Arc<send::Sender>,
}

impl Payments {
    /// Handles `event` if it is about a payment (to us or ours); true if it was.
    pub async fn on_event(&self, ln: &Arc<ln::Ln>, event: &Event) -> bool {
        receive::on_event(&self.invoices, ln, event).await || self.sender.on_event(event).await
    }
}
