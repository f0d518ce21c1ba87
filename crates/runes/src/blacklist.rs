//! The blacklist: sets of rune unique ids kept as maximal inclusive ranges, as
//! `blacklistrune` reports them, capped below 100 000 000 like Core Lightning's bitmap.

/// Ids at or above this cannot be blacklisted.
pub const BLACKLIST_CAP: u64 = 100_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlacklistError {
    #[error("Can not specify end without start")]
    EndWithoutStart,
    #[error("Cannot blacklist beyond 100000000")]
    BeyondCap,
    /// Core Lightning aborts on this; boltd refuses it.
    #[error("start must not be greater than end")]
    StartAfterEnd,
}

/// Checks `blacklistrune`'s `start`/`end`: `Ok(None)` means "just list".
pub fn requested_range(
    start: Option<u64>,
    end: Option<u64>,
) -> Result<Option<(u64, u64)>, BlacklistError> {
    let Some(start) = start else {
        return match end {
            Some(_) => Err(BlacklistError::EndWithoutStart),
            None => Ok(None),
        };
    };
    let end = end.unwrap_or(start);
    if start >= BLACKLIST_CAP || end >= BLACKLIST_CAP {
        return Err(BlacklistError::BeyondCap);
    }
    if start > end {
        return Err(BlacklistError::StartAfterEnd);
    }
    Ok(Some((start, end)))
}

/// Sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blacklist {
    ranges: Vec<(u64, u64)>,
}

impl Blacklist {
    /// Normalises whatever ranges were stored (overlaps and adjacency merged).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u64, u64)>) -> Blacklist {
        let mut b = Blacklist::default();
        for (s, e) in ranges {
            if s <= e {
                b.add(s, e);
            }
        }
        b
    }

    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    pub fn contains(&self, id: u64) -> bool {
        let i = self.ranges.partition_point(|&(_, e)| e < id);
        self.ranges.get(i).is_some_and(|&(s, _)| s <= id)
    }

    pub fn add(&mut self, start: u64, end: u64) {
        let mut merged = (start, end);
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        for &(s, e) in &self.ranges {
            if e.saturating_add(1) < merged.0 || merged.1.saturating_add(1) < s {
                out.push((s, e));
            } else {
                merged = (merged.0.min(s), merged.1.max(e));
            }
        }
        out.push(merged);
        out.sort_unstable();
        self.ranges = out;
    }

    pub fn remove(&mut self, start: u64, end: u64) {
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        for &(s, e) in &self.ranges {
            if e < start || s > end {
                out.push((s, e));
                continue;
            }
            if s < start {
                out.push((s, start - 1));
            }
            if e > end {
                out.push((end + 1, e));
            }
        }
        self.ranges = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_and_overlapping_ranges_merge() {
        let mut b = Blacklist::default();
        b.add(1, 1);
        b.add(3, 3);
        assert_eq!(b.ranges(), &[(1, 1), (3, 3)]);
        b.add(2, 2);
        assert_eq!(b.ranges(), &[(1, 3)]);
        b.add(10, 20);
        b.add(15, 25);
        b.add(0, 0);
        assert_eq!(b.ranges(), &[(0, 3), (10, 25)]);
        assert!(b.contains(0) && b.contains(25) && !b.contains(4) && !b.contains(26));
        b.remove(12, 13);
        assert_eq!(b.ranges(), &[(0, 3), (10, 11), (14, 25)]);
        b.remove(0, 100);
        assert!(b.ranges().is_empty());
        assert_eq!(Blacklist::from_ranges([(5, 6), (1, 4)]).ranges(), &[(1, 6)]);
    }

    #[test]
    fn requests_are_checked_like_blacklistrune() {
        assert_eq!(requested_range(None, None), Ok(None));
        assert_eq!(
            requested_range(None, Some(3)),
            Err(BlacklistError::EndWithoutStart)
        );
        assert_eq!(requested_range(Some(3), None), Ok(Some((3, 3))));
        assert_eq!(
            requested_range(Some(5), Some(3)),
            Err(BlacklistError::StartAfterEnd)
        );
        assert_eq!(
            requested_range(Some(0), Some(100_000_000)),
            Err(BlacklistError::BeyondCap)
        );
        assert_eq!(
            requested_range(Some(u64::MAX), None),
            Err(BlacklistError::BeyondCap)
        );
        assert_eq!(
            requested_range(Some(0), Some(99_999_999)),
            Ok(Some((0, 99_999_999)))
        );
    }
}
