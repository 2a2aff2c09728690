//! `limit_arenas` caps glibc's arenas for real: a process that calls it
//! first and then allocates from eight threads at once has one arena, and
//! one that does not call it has several (so the check can fail).
//!
//! Each case runs in a child process of this test (a process's arenas
//! cannot be undone), which prints glibc's `malloc_stats` to its stderr:
//! one `Arena N:` line per arena. No test harness (`harness = false`): the
//! harness would start threads, and so arenas, before the cap.
#![allow(unsafe_code)]

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    use std::process::Command;

    const CHILD: &str = "BNPL_MALLOC_TEST_CHILD";
    match std::env::var(CHILD).as_deref() {
        Ok("capped") => {
            assert_eq!(
                bnpl_malloc::limit_arenas(),
                bnpl_malloc::ArenaLimit::Set(bnpl_malloc::ARENAS)
            );
            allocate_from_threads_then_report();
        }
        Ok("default") => allocate_from_threads_then_report(),
        _ => {
            let arenas = |case: &str| {
                let out = Command::new(std::env::current_exe().expect("the test's own path"))
                    .env(CHILD, case)
                    .env_remove("MALLOC_ARENA_MAX")
                    .env_remove("GLIBC_TUNABLES")
                    .output()
                    .expect("the child runs");
                assert!(out.status.success(), "{case}: {out:?}");
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .filter(|l| l.starts_with("Arena "))
                    .count()
            };
            let (capped, default) = (arenas("capped"), arenas("default"));
            assert_eq!(capped, bnpl_malloc::ARENAS as usize, "arenas with the cap");
            assert!(
                default > capped,
                "without the cap glibc made {default} arena(s)"
            );
            println!("arenas: {capped} with the cap, {default} without: ok");
        }
    }
}

/// Eight threads each allocate while all eight are alive, so glibc gives
/// each a new arena unless capped; then glibc reports its arenas.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn allocate_from_threads_then_report() {
    use std::sync::{Arc, Barrier};
    let all_alive = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let all_alive = all_alive.clone();
            std::thread::spawn(move || {
                let held = vec![i as u8; 4096];
                all_alive.wait();
                held.len()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread"), 4096);
    }
    // SAFETY: malloc_stats takes no arguments and only prints to stderr.
    unsafe { libc::malloc_stats() };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {
    println!("arenas: not glibc, nothing to check");
}
