//! The channel manager's bytes in the store as content-defined chunks, so that a manager
//! write stores only the chunks that changed.
//!
//! Why: every group commit writes the whole manager (write_order.rs), and a node that pays
//! a lot carries every payment of the last few minutes in it (LDK keeps completed outbound
//! payments for `IDEMPOTENCY_TIMEOUT_TICKS` timer ticks, ~100 bytes each). At a few hundred
//! payments a second the manager reached hundreds of kB, all written, fsynced and
//! checkpointed again at every commit; payments got slower the longer the node paid.
//! Between two writes most of it is unchanged.
//!
//! How: the encoding is cut where a rolling hash of the last 64 bytes hits a pattern
//! ("gear" hashing, as FastCDC), so an insertion moves no boundary but its neighbours'.
//! Each chunk is a kv entry of its own under [`NS`]/[`CHUNKS`], named by a number that is
//! never reused; the list of the manager's chunks (number, length, checksum) is the entry
//! [`NS`]/[`LIST`]. A write queues the new chunks, the list and the removal of the chunks no
//! longer listed, in one transaction: the store holds the old manager or the new one,
//! never a mix. A chunk is reused only if its bytes are equal (compared, not hashed).
//!
//! What we know of the stored chunks changes only once their transaction is durable
//! ([`ManagerChunks::plan`] then, after the commit, [`ManagerChunks::apply`]).
//!
//! A store from before this holds the manager as LDK's single `manager` entry: it is read
//! from there, and the first write removes it.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Mutex;

use lightning::io::{Error, ErrorKind};
use lightning::util::persist::{
    KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY, CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
};

/// The kv namespace of the chunked manager.
pub const NS: &str = "boltd_manager";
/// Its secondary namespace holding the chunks.
pub const CHUNKS: &str = "chunks";
/// The key of the chunk list (secondary namespace "").
pub const LIST: &str = "list";

const VERSION: u8 = 1;
/// No boundary before this many bytes of a chunk (nor is the hash computed there: the
/// cut is on the write path, ~1.3 GB/s over the bytes hashed)...
const MIN: usize = 2 * 1024;
/// ...one on average every 2 KiB after it...
const MASK: u64 = !0u64 << (64 - 11);
/// ...and one at the latest here.
const MAX: usize = 16 * 1024;

/// 256 fixed pseudo-random words (splitmix64): the boundaries, hence which stored chunks
/// a later run can reuse, must not change between runs.
const GEAR: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut i = 0;
    while i < 256 {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        t[i] = z ^ (z >> 31);
        i += 1;
    }
    t
};

#[cfg(test)]
thread_local! {
    /// Bytes cut by content on this thread (what `plan` hashed).
    static CUT_BYTES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Where the next chunk of `data` ends (its length).
fn boundary(data: &[u8]) -> usize {
    let n = boundary_unseen(data);
    #[cfg(test)]
    CUT_BYTES.with(|c| c.set(c.get() + n));
    n
}

fn boundary_unseen(data: &[u8]) -> usize {
    if data.len() <= MIN {
        return data.len();
    }
    let end = data.len().min(MAX);
    let mut h: u64 = 0;
    let window = data.get(MIN..end).unwrap_or_default();
    for (i, b) in window.iter().enumerate() {
        h = (h << 1).wrapping_add(GEAR[usize::from(*b)]);
        if h & MASK == 0 {
            return MIN + i + 1;
        }
    }
    end
}

/// `data` cut into chunks by content alone.
#[cfg(test)]
fn cut(data: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(data.len() / MIN + 1);
    let mut start = 0;
    while let Some(rest) = data.get(start..).filter(|r| !r.is_empty()) {
        let end = start + boundary(rest);
        out.push(start..end);
        start = end;
    }
    out
}

/// FNV-1a: a checksum that is the same in every build (std's hashers are not).
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn chunk_key(id: u64) -> String {
    format!("{id:016x}")
}

/// One chunk of the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    id: u64,
    len: u32,
    sum: u64,
}

const ENTRY_LEN: usize = 8 + 4 + 8;

fn encode_list(entries: &[Entry], total: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 8 + entries.len() * ENTRY_LEN);
    out.push(VERSION);
    out.extend_from_slice(&total.to_le_bytes());
    for e in entries {
        out.extend_from_slice(&e.id.to_le_bytes());
        out.extend_from_slice(&e.len.to_le_bytes());
        out.extend_from_slice(&e.sum.to_le_bytes());
    }
    out
}

fn corrupt(what: String) -> Error {
    Error::new(
        ErrorKind::InvalidData,
        format!("chunked channel manager: {what}"),
    )
}

fn decode_list(bytes: &[u8]) -> Result<(Vec<Entry>, u64), Error> {
    let (head, body) = bytes
        .split_at_checked(9)
        .ok_or_else(|| corrupt("list too short".into()))?;
    let (version, total) = head
        .split_first()
        .ok_or_else(|| corrupt("list too short".into()))?;
    if *version != VERSION {
        return Err(corrupt(format!("unknown list version {version}")));
    }
    let total = u64::from_le_bytes(total.try_into().map_err(|_| corrupt("length".into()))?);
    if body.len() % ENTRY_LEN != 0 {
        return Err(corrupt("list length".into()));
    }
    let entries = body
        .chunks_exact(ENTRY_LEN)
        .map(|e| {
            let (id, rest) = e.split_at(8);
            let (len, sum) = rest.split_at(4);
            Ok(Entry {
                id: u64::from_le_bytes(id.try_into().map_err(|_| corrupt("entry".into()))?),
                len: u32::from_le_bytes(len.try_into().map_err(|_| corrupt("entry".into()))?),
                sum: u64::from_le_bytes(sum.try_into().map_err(|_| corrupt("entry".into()))?),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    // What a write never lists; refused here, they would size an allocation from the
    // store (the length) or overflow (the next chunk number).
    if entries
        .iter()
        .any(|e| e.len as usize > MAX || e.id == u64::MAX)
    {
        return Err(corrupt("entry out of range".into()));
    }
    if entries.iter().map(|e| u64::from(e.len)).sum::<u64>() != total {
        return Err(corrupt(format!("entries do not add up to {total} bytes")));
    }
    Ok((entries, total))
}

/// What is durably stored, as far as we know.
#[derive(Default)]
struct Stored {
    /// Chunk numbers are never reused: the next one.
    next_id: u64,
    /// The stored list.
    list: Vec<Entry>,
    /// Every listed chunk with its bytes (to compare a new chunk with); empty when the
    /// list is not what is stored (see [`ManagerChunks::load`]).
    chunks: HashMap<u64, (Entry, Vec<u8>)>,
    /// The manager is (also) in LDK's single entry: the next write removes it.
    legacy: bool,
}

/// A write worked out, not yet applied to what we know ([`ManagerChunks::apply`]).
pub struct Plan {
    list: Vec<Entry>,
    /// New chunks: their list entries and where they are in the encoding.
    new: Vec<(Entry, Range<usize>)>,
    /// Chunks no longer listed.
    gone: Vec<u64>,
    next_id: u64,
    total: u64,
    legacy: bool,
}

impl Plan {
    /// Bytes of chunks this write stores (the rest are the stored ones again).
    pub fn new_bytes(&self) -> usize {
        self.new.iter().map(|(_, r)| r.len()).sum()
    }
}

/// The chunked manager of one store (one per node).
#[derive(Default)]
pub struct ManagerChunks {
    stored: Mutex<Stored>,
}

impl ManagerChunks {
    fn stored(&self) -> std::sync::MutexGuard<'_, Stored> {
        self.stored.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the stored manager; `None` if there is none. Remembers what is stored for
    /// the writes to come.
    ///
    /// LDK's single entry wins over a chunk list: the two are never stored together by
    /// this code (a write replaces one by the other in one transaction), so both mean an
    /// older boltd ran on this store after us and wrote the newer manager. The next write
    /// removes that entry and every chunk of the stale list.
    pub fn load(&self, kv: &dyn KVStoreSync) -> Result<Option<Vec<u8>>, Error> {
        let list = match kv.read(NS, "", LIST) {
            Ok(l) => Some(decode_list(&l)?),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        match kv.read(
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
        ) {
            Ok(bytes) => {
                let stale = list.map(|(entries, _)| entries).unwrap_or_default();
                *self.stored() = Stored {
                    next_id: stale.iter().map(|e| e.id + 1).max().unwrap_or(0),
                    list: stale,
                    chunks: HashMap::new(),
                    legacy: true,
                };
                return Ok(Some(bytes));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let Some((entries, total)) = list else {
            return Ok(None);
        };
        // `total` is the sum of the entries' lengths, each at most MAX (decode_list).
        let mut data = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        let mut chunks = HashMap::with_capacity(entries.len());
        for e in &entries {
            let chunk = kv.read(NS, CHUNKS, &chunk_key(e.id))?;
            if chunk.len() != e.len as usize || checksum(&chunk) != e.sum {
                return Err(corrupt(format!("chunk {} does not match its list", e.id)));
            }
            data.extend_from_slice(&chunk);
            chunks.insert(e.id, (*e, chunk));
        }
        *self.stored() = Stored {
            next_id: entries.iter().map(|e| e.id + 1).max().unwrap_or(0),
            list: entries,
            chunks,
            legacy: false,
        };
        Ok(Some(data))
    }

    /// The manager's encoding, in one pass. LDK's `Writeable::encode` makes two: it
    /// serialises everything once to learn the length (to size its buffer), then again
    /// into the buffer; for a node that pays a lot that doubled the longest step of a
    /// group commit, under the manager's locks. The last stored length sizes the buffer
    /// instead (it grows by a few payments between two writes).
    pub fn encode(&self, manager: &impl lightning::util::ser::Writeable) -> Vec<u8> {
        let last = self
            .stored()
            .list
            .iter()
            .map(|e| e.len as usize)
            .sum::<usize>();
        let mut out = Vec::with_capacity(last + last / 8 + 1024);
        // Writing into a Vec cannot fail.
        let _ = manager.write(&mut out);
        out
    }

    /// Works out the write of `data`: which chunks are new, which go.
    ///
    /// Where a stored chunk's bytes come next in `data` it is taken as it is (compared, at
    /// memory speed); only where none does is the next chunk cut by content. Cutting all
    /// of `data` hashed every byte of an encoding that grows with each recent payment, at
    /// every write, though only a few chunks change between two writes. After a changed
    /// stretch the cut meets a stored boundary again within a chunk or two (boundaries
    /// depend on the last 64 bytes only), and the stored chunks are found from there.
    pub fn plan(&self, data: &[u8]) -> Plan {
        let stored = self.stored();
        // Stored chunks by their first bytes; equal bytes decide.
        let mut by_head: HashMap<&[u8], Vec<&(Entry, Vec<u8>)>> =
            HashMap::with_capacity(stored.chunks.len());
        for c in stored.chunks.values() {
            by_head.entry(head(&c.1)).or_default().push(c);
        }
        let mut next_id = stored.next_id;
        let mut list = Vec::new();
        let mut new = Vec::new();
        let mut kept = std::collections::HashSet::new();
        let mut pos = 0;
        while let Some(rest) = data.get(pos..).filter(|r| !r.is_empty()) {
            // A stored chunk shorter than MIN was the end of its manager: only an end here.
            let same = by_head.get(head(rest)).and_then(|cs| {
                cs.iter().find(|c| {
                    rest.starts_with(&c.1) && (c.1.len() >= MIN || c.1.len() == rest.len())
                })
            });
            if let Some((e, bytes)) = same {
                kept.insert(e.id);
                list.push(*e);
                pos += bytes.len();
                continue;
            }
            let r = pos..pos + boundary(rest);
            let chunk = data.get(r.clone()).unwrap_or_default();
            let e = Entry {
                id: next_id,
                len: u32::try_from(chunk.len()).unwrap_or(u32::MAX),
                sum: checksum(chunk),
            };
            next_id += 1;
            list.push(e);
            pos = r.end;
            new.push((e, r));
        }
        let gone: std::collections::BTreeSet<u64> = stored
            .list
            .iter()
            .map(|e| e.id)
            .filter(|id| !kept.contains(id))
            .collect();
        let gone = gone.into_iter().collect();
        Plan {
            list,
            new,
            gone,
            next_id,
            total: data.len() as u64,
            legacy: stored.legacy,
        }
    }

    /// Writes `plan` of `data` through `kv`: run it inside a store group, so that it is one
    /// transaction.
    pub fn write(&self, kv: &dyn KVStoreSync, data: &[u8], plan: &Plan) -> Result<(), Error> {
        for (e, r) in &plan.new {
            let chunk = data.get(r.clone()).unwrap_or_default().to_vec();
            kv.write(NS, CHUNKS, &chunk_key(e.id), chunk)?;
        }
        kv.write(NS, "", LIST, encode_list(&plan.list, plan.total))?;
        for id in &plan.gone {
            kv.remove(NS, CHUNKS, &chunk_key(*id), false)?;
        }
        if plan.legacy {
            kv.remove(
                CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
                CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
                CHANNEL_MANAGER_PERSISTENCE_KEY,
                false,
            )?;
        }
        Ok(())
    }

    /// `plan`'s transaction is durable: it is what is stored now.
    pub fn apply(&self, data: &[u8], plan: Plan) {
        let mut stored = self.stored();
        for id in &plan.gone {
            stored.chunks.remove(id);
        }
        for (e, r) in plan.new {
            stored
                .chunks
                .insert(e.id, (e, data.get(r).unwrap_or_default().to_vec()));
        }
        stored.list = plan.list;
        stored.next_id = plan.next_id;
        stored.legacy = false;
    }
}

/// How many first bytes of a chunk index it for reuse.
const HEAD: usize = 16;

fn head(b: &[u8]) -> &[u8] {
    b.get(..HEAD).unwrap_or(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A kv store in memory.
    #[derive(Default)]
    struct Mem(Mutex<BTreeMap<(String, String, String), Vec<u8>>>);

    impl KVStoreSync for Mem {
        fn read(&self, p: &str, s: &str, k: &str) -> Result<Vec<u8>, Error> {
            self.0
                .lock()
                .unwrap()
                .get(&(p.into(), s.into(), k.into()))
                .cloned()
                .ok_or_else(|| Error::new(ErrorKind::NotFound, "no"))
        }
        fn write(&self, p: &str, s: &str, k: &str, v: Vec<u8>) -> Result<(), Error> {
            self.0
                .lock()
                .unwrap()
                .insert((p.into(), s.into(), k.into()), v);
            Ok(())
        }
        fn remove(&self, p: &str, s: &str, k: &str, _lazy: bool) -> Result<(), Error> {
            self.0
                .lock()
                .unwrap()
                .remove(&(p.into(), s.into(), k.into()));
            Ok(())
        }
        fn list(&self, p: &str, s: &str) -> Result<Vec<String>, Error> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .keys()
                .filter(|(a, b, _)| a == p && b == s)
                .map(|(_, _, k)| k.clone())
                .collect())
        }
    }

    fn random(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 33) as u8
            })
            .collect()
    }

    /// A store holding `n` random bytes written as chunks, and its writer.
    fn saved(n: usize, seed: u64) -> (Mem, ManagerChunks, Vec<u8>) {
        let (kv, c, data) = (Mem::default(), ManagerChunks::default(), random(n, seed));
        save(&c, &kv, &data);
        (kv, c, data)
    }

    fn save(c: &ManagerChunks, kv: &Mem, data: &[u8]) -> usize {
        let plan = c.plan(data);
        let n = plan.new_bytes();
        c.write(kv, data, &plan).unwrap();
        c.apply(data, plan);
        n
    }

    /// Writes `bytes` as LDK's single manager entry (what an older boltd writes).
    fn write_single_entry(kv: &Mem, bytes: &[u8]) {
        kv.write(
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
            bytes.to_vec(),
        )
        .unwrap();
    }

    fn chunk_count(kv: &Mem) -> usize {
        kv.list(NS, CHUNKS).unwrap().len()
    }

    /// A manager stand-in that counts its serialisations.
    struct Counted(Vec<u8>, std::cell::Cell<u32>);

    impl lightning::util::ser::Writeable for Counted {
        fn write<W: lightning::util::ser::Writer>(&self, w: &mut W) -> Result<(), Error> {
            self.1.set(self.1.get() + 1);
            w.write_all(&self.0)
        }
    }

    #[test]
    fn the_manager_is_encoded_in_one_pass_as_ldk_encodes_it() {
        use lightning::util::ser::Writeable;
        let kv = Mem::default();
        let c = ManagerChunks::default();
        let m = Counted(random(50_000, 9), Default::default());
        let ldk = m.encode();
        assert_eq!(m.1.replace(0), 2, "LDK's encode serialises twice");
        let first = c.encode(&m);
        assert_eq!((first.as_slice(), m.1.replace(0)), (ldk.as_slice(), 1));
        save(&c, &kv, &first);
        let again = c.encode(&m);
        assert_eq!(again, ldk);
        assert!(again.capacity() >= ldk.len());
    }

    #[test]
    fn chunks_are_cut_by_content_within_their_bounds() {
        let data = random(300_000, 1);
        let cuts = cut(&data);
        assert_eq!(cuts.first().unwrap().start, 0);
        assert_eq!(cuts.last().unwrap().end, data.len());
        for w in cuts.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        for r in &cuts[..cuts.len() - 1] {
            assert!(r.len() >= MIN && r.len() <= MAX, "{}", r.len());
        }
        let avg = data.len() / cuts.len();
        assert!((3000..6000).contains(&avg), "average chunk {avg}");
        // An insertion moves the boundaries near it only.
        let mut changed = data.clone();
        changed.splice(150_000..150_000, random(100, 2));
        let a: std::collections::HashSet<&[u8]> = cuts.iter().map(|r| &data[r.clone()]).collect();
        let fresh = cut(&changed)
            .into_iter()
            .filter(|r| !a.contains(&changed[r.clone()]))
            .count();
        assert!(fresh <= 3, "{fresh} chunks changed");
        assert!(cut(&[]).is_empty());
        assert_eq!(cut(&[7; 10]), vec![0..10]);
    }

    #[test]
    fn a_write_stores_what_changed_and_reads_back_whole() {
        let kv = Mem::default();
        let c = ManagerChunks::default();
        assert_eq!(c.load(&kv).unwrap(), None);

        let mut data = random(400_000, 3);
        assert_eq!(save(&c, &kv, &data), data.len());
        // A few small changes at random places: a few chunks each.
        for (i, at) in [10usize, 123_456, 399_990].iter().enumerate() {
            data.splice(*at..*at + 4, random(30, 10 + i as u64));
        }
        let stored = save(&c, &kv, &data);
        assert!(stored < 50_000, "{stored} bytes written again");
        // Nothing left behind: exactly the listed chunks are stored.
        let (list, total) = decode_list(&kv.read(NS, "", LIST).unwrap()).unwrap();
        assert_eq!(total, data.len() as u64);
        assert_eq!(chunk_count(&kv), list.len());

        // A new process reads it back and goes on from there.
        let again = ManagerChunks::default();
        assert_eq!(again.load(&kv).unwrap().as_deref(), Some(&data[..]));
        data.truncate(1000);
        assert!(save(&again, &kv, &data) <= 1000);
        assert_eq!(
            ManagerChunks::default().load(&kv).unwrap().as_deref(),
            Some(&data[..])
        );
        assert!(chunk_count(&kv) <= 2);
        // Repeated chunks (a manager full of zeroes) are stored and read back too.
        let zeros = vec![0u8; 50_000];
        save(&again, &kv, &zeros);
        assert_eq!(ManagerChunks::default().load(&kv).unwrap(), Some(zeros));
    }

    #[test]
    fn a_plan_cuts_only_what_changed_and_finds_the_stored_chunks_after_it() {
        let (kv, c, mut data) = saved(1_000_000, 4);
        let cut_by = |data: &[u8]| {
            CUT_BYTES.with(|b| b.set(0));
            let plan = c.plan(data);
            (CUT_BYTES.with(|b| b.get()), plan.new_bytes())
        };
        assert_eq!(cut_by(&data), (0, 0), "nothing changed, nothing cut");
        // Changes in place, an insertion and a removal (everything after them shifts).
        data.splice(100_000..100_004, random(4, 5));
        data.splice(500_000..500_000, random(100, 6));
        data.splice(800_000..800_300, []);
        let (hashed, new) = cut_by(&data);
        assert!(hashed < 60_000, "{hashed} bytes cut again");
        assert!(new <= hashed);
        save(&c, &kv, &data);
        assert_eq!(
            ManagerChunks::default().load(&kv).unwrap().as_deref(),
            Some(&data[..])
        );
    }

    #[test]
    fn a_plan_never_applied_leaves_what_is_stored_in_charge() {
        let (kv, c, _first) = saved(100_000, 4);
        // A write whose transaction never committed: nothing of it is known afterwards,
        // so the next write does not count on its chunks.
        let lost = random(100_000, 5);
        let _ = c.plan(&lost);
        let next = random(100_000, 6);
        save(&c, &kv, &next);
        assert_eq!(ManagerChunks::default().load(&kv).unwrap(), Some(next));
    }

    #[test]
    fn the_single_entry_of_an_older_store_is_read_then_replaced() {
        let kv = Mem::default();
        let old = random(20_000, 7);
        write_single_entry(&kv, &old);
        let c = ManagerChunks::default();
        assert_eq!(c.load(&kv).unwrap(), Some(old.clone()));
        save(&c, &kv, &old);
        assert!(kv
            .read(
                CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
                CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
                CHANNEL_MANAGER_PERSISTENCE_KEY,
            )
            .is_err());
        assert_eq!(
            ManagerChunks::default().load(&kv).unwrap(),
            Some(old.clone())
        );

        // An older boltd ran on the store after us: its single entry is the newer one,
        // and the next write leaves only its own chunks.
        let newer = random(30_000, 9);
        write_single_entry(&kv, &newer);
        let c = ManagerChunks::default();
        assert_eq!(c.load(&kv).unwrap(), Some(newer.clone()));
        save(&c, &kv, &newer);
        let (list, _) = decode_list(&kv.read(NS, "", LIST).unwrap()).unwrap();
        assert_eq!(chunk_count(&kv), list.len());
        assert_eq!(ManagerChunks::default().load(&kv).unwrap(), Some(newer));
    }

    #[test]
    fn a_damaged_store_is_refused_not_misread() {
        let (kv, _, _) = saved(50_000, 8);
        let key = kv.list(NS, CHUNKS).unwrap()[0].clone();
        let mut chunk = kv.read(NS, CHUNKS, &key).unwrap();
        chunk[0] ^= 1;
        kv.write(NS, CHUNKS, &key, chunk).unwrap();
        assert!(ManagerChunks::default().load(&kv).is_err());
        kv.remove(NS, CHUNKS, &key, false).unwrap();
        assert!(ManagerChunks::default().load(&kv).is_err());
        kv.write(NS, "", LIST, vec![VERSION, 1, 2]).unwrap();
        assert!(ManagerChunks::default().load(&kv).is_err());
        // A list that claims an absurd length, or the last chunk number, is refused too
        // (neither sizes an allocation nor overflows).
        let (intact, _, _) = saved(50_000, 9);
        let (list, _) = decode_list(&intact.read(NS, "", LIST).unwrap()).unwrap();
        kv.write(NS, "", LIST, encode_list(&list, u64::MAX))
            .unwrap();
        assert!(ManagerChunks::default().load(&kv).is_err());
        let mut last = list.clone();
        last[0].id = u64::MAX;
        kv.write(NS, "", LIST, encode_list(&last, 1)).unwrap();
        assert!(ManagerChunks::default().load(&kv).is_err());
    }
}
