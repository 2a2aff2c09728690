-- Issue 4: the PSD2 consent record, stored beside the data it grants.
--
-- One row per account: the consent the account currently reads under (a
-- re-consent replaces it). The consent id itself is a secret and lives only
-- in the account's encrypted credentials, never here.
CREATE TABLE consents (
    account_id        BIGINT NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    provider          TEXT NOT NULL,
    -- How the data is reached: 'psd2-ais' (Berlin Group account information).
    route             TEXT NOT NULL,
    -- The consent's `access` object as the bank reports it.
    scope             JSONB NOT NULL,
    recurring         BOOLEAN NOT NULL,
    valid_until       DATE NOT NULL,
    frequency_per_day INTEGER NOT NULL,
    -- Berlin Group consentStatus: received, valid, rejected, expired,
    -- revokedByPsu, terminatedByTpp, partiallyAuthorised.
    status            TEXT NOT NULL,
    last_action_date  DATE,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
