//! Money moving over channels: LDK's payment events carried out against our invoices
//! ([`receive`]) and route hints for invoices from our private channels ([`hints`]).
//! It owns no channel state (that is `channels`) and no invoice rules (that is
//! `invoices`): it only connects the two.

pub mod hints;
pub mod receive;
