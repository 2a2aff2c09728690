//! glibc's malloc gives each thread that allocates an arena of its own, up
//! to eight per core, and memory freed into one arena serves only the
//! threads bound to it. bnpl's threads take turns on the same work (tokio's
//! workers decode pages, a blocking thread writes them, SQLite's sorter and
//! the import's parser have threads of their own), so each arena keeps its
//! own high-water mark of free memory and the process's peak grows with the
//! length of the run, not with what it holds: a 10,000-account sync peaked
//! ~2–3 MB higher than a 1,000-account one, with one arena the same
//! (docs/performance.md, round 10).
//!
//! [`limit_arenas`] caps the arenas before the first thread starts, as Ruby
//! does for the same reason. The environment wins: `MALLOC_ARENA_MAX` or a
//! `glibc.malloc.arena_max` tunable set by the user is left as it is.

use std::ffi::OsStr;

/// The arenas bnpl runs with. One is the only setting that kept a sync's
/// peak flat from 1k to 10k accounts (two arenas: +0.8 to +1.2 MB). Its
/// price, measured on 2 cores: a delta sync ~7–9% slower (its small
/// requests' allocations wait for the arena's lock); the initial sync and
/// the import, whose critical path is the writer thread, not slower.
pub const ARENAS: i32 = 1;

/// What [`limit_arenas`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArenaLimit {
    /// The cap is set to this many arenas.
    Set(i32),
    /// The environment chose the arenas (`MALLOC_ARENA_MAX` or
    /// `GLIBC_TUNABLES`): glibc applied it at start.
    FromEnvironment,
    /// Not glibc, or glibc refused the setting: the allocator's default.
    Unsupported,
}

/// Caps glibc's arenas at [`ARENAS`] unless the environment set them. Call
/// it first in `main`, before any thread starts: the cap only stops new
/// arenas from being made, it does not merge those that exist.
pub fn limit_arenas() -> ArenaLimit {
    let chosen = std::env::var_os("MALLOC_ARENA_MAX");
    let tunables = std::env::var_os("GLIBC_TUNABLES");
    if chosen_by_environment(chosen.as_deref(), tunables.as_deref()) {
        return ArenaLimit::FromEnvironment;
    }
    set_arena_max(ARENAS)
}

/// Whether the user already told glibc how many arenas to make.
fn chosen_by_environment(arena_max: Option<&OsStr>, tunables: Option<&OsStr>) -> bool {
    arena_max.is_some_and(|v| !v.is_empty())
        || tunables.is_some_and(|t| {
            t.to_string_lossy()
                .split(':')
                .any(|setting| setting.starts_with("glibc.malloc.arena_max="))
        })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_arena_max(arenas: i32) -> ArenaLimit {
    // SAFETY: mallopt takes two integers and changes one parameter of the
    // allocator under the allocator's own lock; it touches no memory of
    // ours. It returns 1 on success, 0 on a refused value.
    let accepted = unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
    if accepted == 1 {
        ArenaLimit::Set(arenas)
    } else {
        ArenaLimit::Unsupported
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_arenas: i32) -> ArenaLimit {
    ArenaLimit::Unsupported
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(arena_max: Option<&str>, tunables: Option<&str>) -> bool {
        chosen_by_environment(arena_max.map(OsStr::new), tunables.map(OsStr::new))
    }

    #[test]
    fn the_environment_chooses_when_it_names_the_arenas() {
        assert!(chosen(Some("4"), None));
        assert!(chosen(None, Some("glibc.malloc.arena_max=2")));
        assert!(chosen(
            None,
            Some("glibc.malloc.tcache_count=0:glibc.malloc.arena_max=8")
        ));
    }

    #[test]
    fn other_settings_leave_the_choice_to_bnpl() {
        assert!(!chosen(None, None));
        assert!(!chosen(Some(""), None));
        assert!(!chosen(None, Some("glibc.malloc.tcache_count=0")));
        // A tunable whose name only contains the word is not the arena cap.
        assert!(!chosen(None, Some("glibc.malloc.arena_max_x=2")));
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_cap() {
        // Raising the cap well above what the test harness made changes
        // nothing for the other tests of this process.
        assert_eq!(set_arena_max(64), ArenaLimit::Set(64));
    }
}
