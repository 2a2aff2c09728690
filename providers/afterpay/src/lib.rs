//! Afterpay: a registered slot. It is listed by `bnpl providers` and accepted in
//! config, but no stream is built yet, so enabling it says so at start-up.
//! See docs/adding-a-connector.md for how to fill it in.

use std::sync::Arc;

use bnpl_core::{
    ConfigError, ErasedConnector, ProviderContext, ProviderRegistration, ProviderStatus,
};

pub const PROVIDER_ID: &str = "afterpay";

fn factory(
    _section: serde_json::Value,
    _context: &ProviderContext,
) -> Result<Arc<dyn ErasedConnector>, ConfigError> {
    Err(bnpl_core::registry::not_built(PROVIDER_ID))
}

bnpl_core::inventory::submit! {
    ProviderRegistration {
        id: PROVIDER_ID,
        display_name: "Afterpay",
        markets: &["US", "AU", "NZ", "GB", "CA"],
        streams: &[],
        status: ProviderStatus::Planned,
        description: "slot: no documented consumer API or export format is implemented yet",
        credential_fields: &[],
        factory,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn enabling_the_slot_is_a_clear_error() {
        let err = match super::factory(serde_json::json!({}), &Default::default()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a planned slot must not build"),
        };
        assert!(err.contains("afterpay is planned"), "{err}");
        assert!(err.contains("[providers.afterpay]"), "{err}");
    }
}
