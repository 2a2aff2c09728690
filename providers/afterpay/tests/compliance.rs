//! The connector compliance harness: a planned slot reports "planned" cleanly.

#[test]
fn registration_is_a_clean_planned_slot() {
    bnpl_test_support::check_registration(bnpl_provider_afterpay::PROVIDER_ID);
}
