//! The facade that links every provider crate into a binary.
//!
//! A provider registers itself with `inventory`, but the linker drops a crate
//! that no code path names, leaving the registry silently empty. The build
//! script names every `bnpl-provider-*` dependency here; binaries and tests
//! call [`registry`], which also checks that every linked provider registered.

use bnpl_core::ProviderRegistration;

include!(concat!(env!("OUT_DIR"), "/providers.rs"));

#[derive(Debug, thiserror::Error)]
#[error(
    "provider(s) compiled in but missing from the registry: {missing:?}; registered: {registered:?}"
)]
pub struct RegistryIncomplete {
    pub missing: Vec<&'static str>,
    pub registered: Vec<&'static str>,
}

/// Every registered provider, sorted by id, after checking that each provider
/// crate linked into this build is among them.
pub fn registry() -> Result<Vec<&'static ProviderRegistration>, RegistryIncomplete> {
    let all = bnpl_core::registry::all();
    let registered: Vec<&'static str> = all.iter().map(|r| r.id).collect();
    let missing: Vec<&'static str> = COMPILED_IN
        .iter()
        .copied()
        .filter(|id| !registered.contains(id))
        .collect();
    if missing.is_empty() {
        Ok(all)
    } else {
        Err(RegistryIncomplete {
            missing,
            registered,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_compiled_in_provider_is_registered() {
        let registry = super::registry().expect("registry complete");
        let ids: Vec<&str> = registry.iter().map(|r| r.id).collect();
        for expected in ["affirm", "afterpay", "klarna-eu", "klarna-us"] {
            assert!(ids.contains(&expected), "{expected} missing from {ids:?}");
            assert!(super::COMPILED_IN.contains(&expected));
        }
    }
}
