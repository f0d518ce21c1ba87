//! Building one BOLT 11 invoice: the payment secret from LDK's stateless inbound-payment
//! scheme (`inbound_payment::create_from_hash` with the KeysManager's expanded key, which
//! is all `ChannelManager::create_inbound_payment_for_hash` does), so the ChannelManager
//! accepts an HTLC for every hash we issue, a caller-given preimage's included; the
//! invoice signed by the node key (the KeysManager as `NodeSigner`).

use std::time::Duration;

use bitcoin::address::AddressData;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Address, Network};
use lightning::ln::channelmanager::MIN_FINAL_CLTV_EXPIRY_DELTA;
use lightning::ln::inbound_payment;
use lightning::sign::{NodeSigner, Recipient};
use lightning::types::features::Bolt11InvoiceFeatures;
use lightning_invoice::{
    Bolt11Invoice, Currency, Fallback, InvoiceBuilder, PaymentHash, RawTaggedField, RouteHint,
    TaggedField,
};

/// Everything an invoice is made of, after the `invoice` command checked its params.
#[derive(Debug, Clone)]
pub struct InvoiceSpec {
    /// `None`: "any" amount.
    pub amount_msat: Option<u64>,
    pub description: String,
    /// Put only the description's SHA-256 in the invoice (`deschashonly`).
    pub deschashonly: bool,
    /// Seconds.
    pub expiry: u64,
    pub preimage: [u8; 32],
    /// The final CLTV delta the caller asked for.
    pub cltv: u32,
    pub fallbacks: Vec<Fallback>,
    pub route_hints: Vec<RouteHint>,
    /// Invoice feature bits plugins added (big-endian, as manifests give them), set on
    /// top of ours.
    pub plugin_features: Vec<u8>,
}

/// Our own invoice feature bits, big-endian: var_onion_optin (8) and payment_secret (14)
/// required, basic_mpp (17) optional; what getinfo's `our_features.invoice` starts from.
pub const INVOICE_FEATURES: [u8; 3] = [0x02, 0x41, 0x00];

/// `a | b` for big-endian bit fields of any lengths.
pub fn or_features(a: &[u8], b: &[u8]) -> Vec<u8> {
    let n = a.len().max(b.len());
    let at = |v: &[u8], i: usize| {
        (i + v.len())
            .checked_sub(n)
            .and_then(|j| v.get(j))
            .copied()
            .unwrap_or(0)
    };
    let out: Vec<u8> = (0..n).map(|i| at(a, i) | at(b, i)).collect();
    let zeros = out.iter().take_while(|b| **b == 0).count();
    out[zeros..].to_vec()
}

/// The signed invoice and what the store keeps of it.
#[derive(Debug, Clone)]
pub struct Built {
    pub bolt11: String,
    pub payment_hash: [u8; 32],
    pub payment_secret: [u8; 32],
    pub created_at: u64,
    pub expires_at: u64,
}

/// Why no invoice could be built (LDK or lightning-invoice refused its parts).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot derive a payment secret for this amount and expiry")]
    Secret,
    #[error("cannot build the invoice: {0}")]
    Creation(lightning_invoice::CreationError),
    #[error("cannot sign the invoice")]
    Sign,
    #[error("the signed invoice is invalid: {0}")]
    Semantic(lightning_invoice::Bolt11SemanticError),
}

/// The `c` field we write: what the caller asked for, but never below what LDK's
/// ChannelManager accepts at the final hop (`MIN_FINAL_CLTV_EXPIRY_DELTA`, 42 blocks:
/// LDK fails any HTLC expiring within its fail-back buffer), so an invoice we issue is
/// always one we can be paid on.
pub fn final_cltv(asked: u32) -> u32 {
    asked.max(u32::from(MIN_FINAL_CLTV_EXPIRY_DELTA))
}

/// lightningd's network names to rust-bitcoin's.
pub fn network_of(name: &str) -> Option<Network> {
    match name {
        "bitcoin" => Some(Network::Bitcoin),
        "testnet" => Some(Network::Testnet),
        "testnet4" => Some(Network::Testnet4),
        "signet" => Some(Network::Signet),
        "regtest" => Some(Network::Regtest),
        _ => None,
    }
}

/// An address as a BOLT 11 `f` field (`None` for a kind BOLT 11 cannot carry).
pub fn fallback_of(address: &Address) -> Option<Fallback> {
    match address.to_address_data() {
        AddressData::P2pkh { pubkey_hash } => Some(Fallback::PubKeyHash(pubkey_hash)),
        AddressData::P2sh { script_hash } => Some(Fallback::ScriptHash(script_hash)),
        AddressData::Segwit { witness_program } => Some(Fallback::SegWitProgram {
            version: witness_program.version(),
            program: witness_program.program().as_bytes().to_vec(),
        }),
        _ => None,
    }
}

/// Builds and signs the invoice for `spec` at time `now` (seconds since the epoch).
pub fn build(
    keys: &keys::KeysManager,
    network: Network,
    spec: &InvoiceSpec,
    now: u64,
) -> Result<Built, BuildError> {
    let payment_hash = sha256::Hash::hash(&spec.preimage).to_byte_array();
    let cltv = final_cltv(spec.cltv);
    // LDK checks the HTLC against the delta it was given; 3 blocks less than the
    // invoice's leaves room for a block found while the payment travels (LDK's own
    // `create_bolt11_invoice` keeps the same margin). Deltas past u16 need no check of
    // their own: LDK's fail-back buffer check still applies.
    let ldk_cltv = u16::try_from(cltv - 3).ok();
    // LDK's expiry is u32 seconds; a longer one is capped there, ours stays as asked.
    let ldk_expiry = u32::try_from(spec.expiry).unwrap_or(u32::MAX);
    let (secret, _) = inbound_payment::create_from_hash(
        &keys.get_expanded_key(),
        spec.amount_msat,
        PaymentHash(payment_hash),
        ldk_expiry,
        keys,
        now,
        ldk_cltv,
        None,
    )
    .map_err(|()| BuildError::Secret)?;

    let builder = InvoiceBuilder::new(Currency::from(network));
    let builder = if spec.deschashonly {
        builder.description_hash(sha256::Hash::hash(spec.description.as_bytes()))
    } else {
        builder.description(spec.description.clone())
    };
    let mut builder = builder
        .payment_hash(PaymentHash(payment_hash))
        .duration_since_epoch(Duration::from_secs(now))
        .payment_secret(secret)
        .basic_mpp()
        .min_final_cltv_expiry_delta(u64::from(cltv))
        .expiry_time(Duration::from_secs(spec.expiry));
    if let Some(a) = spec.amount_msat {
        builder = builder.amount_milli_satoshis(a);
    }
    for f in &spec.fallbacks {
        builder = builder.fallback(f.clone());
    }
    for h in &spec.route_hints {
        builder = builder.private_route(h.clone());
    }
    let mut raw = builder.build_raw().map_err(BuildError::Creation)?;
    if !spec.plugin_features.is_empty() {
        for f in raw.data.tagged_fields.iter_mut() {
            if let RawTaggedField::KnownSemantics(TaggedField::Features(ours)) = f {
                let mut be = ours.le_flags().to_vec();
                be.reverse();
                *ours =
                    Bolt11InvoiceFeatures::from_be_bytes(or_features(&be, &spec.plugin_features));
            }
        }
    }
    let sig = keys
        .sign_invoice(&raw, Recipient::Node)
        .map_err(|()| BuildError::Sign)?;
    let signed = raw
        .sign::<_, ()>(|_| Ok(sig))
        .map_err(|()| BuildError::Sign)?;
    // Checked as a payer would check it, unless a plugin added required bits LDK does not
    // know (CLN issues such an invoice as asked: the plugin means it).
    if spec.plugin_features.is_empty() {
        Bolt11Invoice::from_signed(signed.clone()).map_err(BuildError::Semantic)?;
    }
    Ok(Built {
        bolt11: signed.to_string(),
        payment_hash,
        payment_secret: secret.0,
        created_at: now,
        expires_at: now.saturating_add(spec.expiry),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightning_invoice::Bolt11InvoiceDescriptionRef;

    fn spec() -> InvoiceSpec {
        InvoiceSpec {
            amount_msat: Some(123_000),
            description: "coffee".into(),
            deschashonly: false,
            expiry: 3600,
            preimage: [7; 32],
            cltv: 18,
            fallbacks: vec![],
            route_hints: vec![],
            plugin_features: vec![],
        }
    }

    /// The secret `ChannelManager::create_inbound_payment_for_hash` would give for the
    /// same hash, amount, expiry, cltv and time (it calls exactly this with its
    /// highest-seen block time; the LDK side of the check is `inbound_payment::verify`,
    /// reached once a ChannelManager receives an HTLC).
    fn ldk_secret(
        k: &keys::Keys,
        hash: [u8; 32],
        amount: Option<u64>,
        cltv: u16,
        now: u64,
    ) -> [u8; 32] {
        let m = k.manager();
        inbound_payment::create_from_hash(
            &m.get_expanded_key(),
            amount,
            PaymentHash(hash),
            3600,
            &*m,
            now,
            Some(cltv),
            None,
        )
        .unwrap()
        .0
         .0
    }

    #[test]
    fn invoice_is_signed_by_the_node_with_ldks_secret_for_our_hash() {
        let k = keys::Keys::from_secret([3; 32]);
        let now = 1_750_000_000;
        let b = build(&k.manager(), Network::Regtest, &spec(), now).unwrap();
        let inv: Bolt11Invoice = b.bolt11.parse().unwrap();
        assert_eq!(inv.recover_payee_pub_key(), k.node_id());
        assert!(b.bolt11.starts_with("lnbcrt1230n1"), "{}", b.bolt11);
        assert_eq!(inv.payment_hash().0, b.payment_hash);
        assert_eq!(b.payment_hash, sha256::Hash::hash(&[7; 32]).to_byte_array());
        assert_eq!(inv.payment_secret().0, b.payment_secret);
        assert_eq!(inv.amount_milli_satoshis(), Some(123_000));
        assert_eq!(inv.expiry_time(), Duration::from_secs(3600));
        assert_eq!(inv.min_final_cltv_expiry_delta(), 42);
        assert_eq!(inv.duration_since_epoch().as_secs(), now);
        assert_eq!(b.expires_at, now + 3600);
        assert!(matches!(
            inv.description(),
            Bolt11InvoiceDescriptionRef::Direct(d) if d.to_string() == "coffee"
        ));
        // The secret is LDK's user-hash secret (amount, expiry, cltv - 3 bound in), not
        // random: the same inputs give it again, another node key or amount does not.
        assert_eq!(
            b.payment_secret,
            ldk_secret(&k, b.payment_hash, Some(123_000), 39, now)
        );
        let other = keys::Keys::from_secret([4; 32]);
        assert_ne!(
            b.payment_secret,
            ldk_secret(&other, b.payment_hash, Some(123_000), 39, now)
        );
        assert_ne!(
            b.payment_secret,
            ldk_secret(&k, b.payment_hash, Some(1), 39, now)
        );
    }

    #[test]
    fn any_amount_deschash_fallbacks_and_large_cltv() {
        let k = keys::Keys::from_secret([3; 32]);
        let addr: Address = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
            .parse::<Address<_>>()
            .unwrap()
            .require_network(Network::Regtest)
            .unwrap();
        let s = InvoiceSpec {
            amount_msat: None,
            deschashonly: true,
            cltv: 144,
            fallbacks: vec![fallback_of(&addr).unwrap()],
            ..spec()
        };
        let b = build(&k.manager(), Network::Regtest, &s, 1_750_000_000).unwrap();
        let inv: Bolt11Invoice = b.bolt11.parse().unwrap();
        assert_eq!(inv.amount_milli_satoshis(), None);
        assert_eq!(inv.min_final_cltv_expiry_delta(), 144);
        assert_eq!(inv.fallback_addresses(), vec![addr]);
        assert!(matches!(
            inv.description(),
            Bolt11InvoiceDescriptionRef::Hash(h) if h.0 == sha256::Hash::hash(b"coffee")
        ));
        assert_eq!(
            b.payment_secret,
            ldk_secret(&k, b.payment_hash, None, 141, 1_750_000_000)
        );
    }

    #[test]
    fn plugin_feature_bits_join_ours() {
        assert_eq!(
            or_features(&INVOICE_FEATURES, &[]),
            INVOICE_FEATURES.to_vec()
        );
        assert_eq!(
            or_features(&INVOICE_FEATURES, &[0x80, 0, 0, 0]),
            vec![0x80, 0x02, 0x41, 0x00]
        );
        assert_eq!(or_features(&[0, 1], &[0, 0, 2]), vec![3]);
        let k = keys::Keys::from_secret([3; 32]);
        let s = InvoiceSpec {
            // Bit 103 (odd: optional) and bit 100 (even: required, unknown to LDK).
            plugin_features: {
                let mut v = vec![0u8; 13];
                v[0] = 0x80 | 0x10;
                v
            },
            ..spec()
        };
        let b = build(&k.manager(), Network::Regtest, &s, 1_750_000_000).unwrap();
        let d = super::super::decode::decode(&b.bolt11).unwrap();
        let f = super::super::decode::decode_json(&d)["features"]
            .as_str()
            .unwrap()
            .to_string();
        // 104 bits: 21 words, 14 bytes; ours at the bottom.
        assert!(f.ends_with("024100"), "{f}");
        assert!(f.starts_with("0090"), "{f}");
        assert_eq!(d.payee, k.node_id());
    }

    #[test]
    fn cltv_is_never_below_ldks_minimum() {
        assert_eq!(final_cltv(0), 42);
        assert_eq!(final_cltv(18), 42);
        assert_eq!(final_cltv(100), 100);
    }

    #[test]
    fn every_network_has_its_prefix() {
        let k = keys::Keys::from_secret([3; 32]);
        for (net, prefix) in [
            ("bitcoin", "lnbc1"),
            ("testnet", "lntb1"),
            ("signet", "lntbs1"),
            ("regtest", "lnbcrt1"),
        ] {
            let s = InvoiceSpec {
                amount_msat: None,
                ..spec()
            };
            let b = build(&k.manager(), network_of(net).unwrap(), &s, 1_750_000_000).unwrap();
            assert!(b.bolt11.starts_with(prefix), "{net}: {}", b.bolt11);
        }
    }
}
