//! Identifiers: unique, opaque-looking, deterministic.
//!
//! An id is a bijective 64-bit mix of `(account index, per-kind counter)`
//! salted per kind and seed, so two ids of one kind can never collide and
//! their fixed-width hex form sorts like the number.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdKind {
    Purchase = 0,
    Card = 1,
    Balance = 2,
    Points = 3,
    Delivery = 4,
    Auth = 5,
}

pub(crate) const ID_KINDS: usize = 6;

/// splitmix64 finaliser: a bijection on `u64`.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(crate) fn kind_salt(seed: u64, kind: IdKind) -> u64 {
    mix64(seed ^ (kind as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

pub(crate) fn make_id(seed: u64, kind: IdKind, account: u32, counter: u32) -> u64 {
    let key = (u64::from(account) << 32) | u64::from(counter);
    mix64(key ^ kind_salt(seed, kind))
}

/// Return ids derive from the (unique) purchase id.
pub(crate) fn return_id(purchase_id: u64) -> u64 {
    mix64(purchase_id ^ 0x7265_7475_726e_5f5f)
}

pub(crate) fn fmt_id(prefix: &str, id: u64) -> String {
    format!("{prefix}{id:016x}")
}

pub(crate) fn purchase_id(id: u64) -> String {
    fmt_id("p_", id)
}
pub(crate) fn card_id(id: u64) -> String {
    fmt_id("ct_", id)
}
pub(crate) fn auth_id(id: u64) -> String {
    fmt_id("au_", id)
}
pub(crate) fn balance_id(id: u64) -> String {
    fmt_id("be_", id)
}
pub(crate) fn points_id(id: u64) -> String {
    fmt_id("pe_", id)
}
pub(crate) fn delivery_id(id: u64) -> String {
    fmt_id("dl_", id)
}
pub(crate) fn ret_id(id: u64) -> String {
    fmt_id("r_", id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_sort_like_numbers() {
        let mut seen = HashSet::new();
        let mut pairs = Vec::new();
        for account in 0..50 {
            for counter in 0..200 {
                let id = make_id(42, IdKind::Purchase, account, counter);
                assert!(seen.insert(id));
                pairs.push((id, purchase_id(id)));
            }
        }
        let mut by_num = pairs.clone();
        by_num.sort_by_key(|p| p.0);
        let mut by_str = pairs;
        by_str.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(by_num, by_str);
    }
}
