-- The bnpl mirror, SQLite flavour. Documented column by column in docs/schema.md.
--
-- Conventions (the same as schema/postgres):
--   * id / *_id INTEGER columns are the mirror's own keys; external_id and
--     *_external_id TEXT columns are the provider's ids.
--   * Money is INTEGER minor units beside a currency column (ISO 4217 code).
--   * Timestamps are UTC TEXT 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (fixed width, so
--     text order is time order); dates are TEXT 'YYYY-MM-DD'.
--   * State columns hold bnpl's snake_case names ('scheduled', 'part_captured').

CREATE TABLE accounts (
    id                INTEGER PRIMARY KEY,
    provider          TEXT NOT NULL,
    external_id       TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'active',
    status_reason     TEXT,
    secret_ciphertext TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (provider, external_id)
);

CREATE TABLE stream_state (
    account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    stream          TEXT NOT NULL,
    cursor          TEXT,
    synced_at       TEXT,
    last_attempt_at TEXT,
    last_success_at TEXT,
    last_error      TEXT,
    next_allowed_at TEXT,
    PRIMARY KEY (account_id, stream)
);

CREATE TABLE purchases (
    id                  INTEGER PRIMARY KEY,
    account_id          INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    external_id         TEXT NOT NULL,
    merchant            TEXT NOT NULL,
    merchant_category   TEXT,
    currency            TEXT NOT NULL,
    amount_minor        INTEGER NOT NULL,
    captured_minor      INTEGER NOT NULL,
    refunded_minor      INTEGER NOT NULL,
    status              TEXT NOT NULL,
    plan                TEXT NOT NULL,
    apr_bps             INTEGER NOT NULL,
    interest_minor      INTEGER NOT NULL,
    return_external_id  TEXT,
    return_reported_at  TEXT,
    return_state        TEXT,
    return_amount_minor INTEGER,
    dispute_state       TEXT,
    dispute_opened_at   TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    synced_at           TEXT NOT NULL,
    UNIQUE (account_id, external_id),
    -- A return and a dispute are all there or not at all.
    CHECK ((return_external_id IS NULL) = (return_reported_at IS NULL)
       AND (return_external_id IS NULL) = (return_state IS NULL)
       AND (return_external_id IS NULL) = (return_amount_minor IS NULL)),
    CHECK ((dispute_state IS NULL) = (dispute_opened_at IS NULL))
);
CREATE INDEX purchases_by_account_created ON purchases (account_id, created_at);

CREATE TABLE purchase_items (
    purchase_id      INTEGER NOT NULL REFERENCES purchases (id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    name             TEXT NOT NULL,
    quantity         INTEGER NOT NULL,
    unit_price_minor INTEGER NOT NULL,
    currency         TEXT NOT NULL,
    PRIMARY KEY (purchase_id, seq)
);

CREATE TABLE installments (
    id             INTEGER PRIMARY KEY,
    purchase_id    INTEGER NOT NULL REFERENCES purchases (id) ON DELETE CASCADE,
    account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL CHECK (seq >= 1),
    due_date       TEXT NOT NULL,
    amount_minor   INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    reported_state TEXT NOT NULL,
    paid_at        TEXT,
    late_fee_minor INTEGER NOT NULL DEFAULT 0,
    UNIQUE (purchase_id, seq)
);
CREATE INDEX installments_by_due_state ON installments (due_date, reported_state);
CREATE INDEX installments_by_account_due ON installments (account_id, due_date);

CREATE TABLE installment_history (
    id                INTEGER PRIMARY KEY,
    installment_id    INTEGER NOT NULL REFERENCES installments (id) ON DELETE CASCADE,
    from_state        TEXT NOT NULL,
    to_state          TEXT NOT NULL,
    from_due_date     TEXT NOT NULL,
    to_due_date       TEXT NOT NULL,
    from_amount_minor INTEGER NOT NULL,
    to_amount_minor   INTEGER NOT NULL,
    changed_at        TEXT NOT NULL,
    synced_at         TEXT NOT NULL,
    cause             TEXT NOT NULL
);
CREATE INDEX installment_history_by_installment ON installment_history (installment_id, id);

CREATE TABLE card_transactions (
    id               INTEGER PRIMARY KEY,
    account_id       INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    external_id      TEXT NOT NULL,
    auth_external_id TEXT,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    currency         TEXT NOT NULL,
    amount_minor     INTEGER NOT NULL,
    merchant         TEXT NOT NULL,
    mcc              TEXT,
    occurred_at      TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    synced_at        TEXT NOT NULL,
    UNIQUE (account_id, external_id)
);
CREATE INDEX card_transactions_by_account_occurred ON card_transactions (account_id, occurred_at);

CREATE TABLE balance_entries (
    id                       INTEGER PRIMARY KEY,
    account_id               INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    external_id              TEXT NOT NULL,
    ledger                   TEXT NOT NULL,
    kind                     TEXT NOT NULL,
    booking                  TEXT NOT NULL,
    currency                 TEXT NOT NULL,
    amount_minor             INTEGER NOT NULL,
    description              TEXT,
    purchase_external_id     TEXT,
    points_entry_external_id TEXT,
    occurred_at              TEXT NOT NULL,
    updated_at               TEXT NOT NULL,
    synced_at                TEXT NOT NULL,
    UNIQUE (account_id, external_id)
);
CREATE INDEX balance_entries_by_account_ledger_occurred
    ON balance_entries (account_id, ledger, occurred_at);

CREATE TABLE points_entries (
    id                        INTEGER PRIMARY KEY,
    account_id                INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    external_id               TEXT NOT NULL,
    kind                      TEXT NOT NULL,
    points                    INTEGER NOT NULL,
    purchase_external_id      TEXT,
    balance_entry_external_id TEXT,
    occurred_at               TEXT NOT NULL,
    updated_at                TEXT NOT NULL,
    synced_at                 TEXT NOT NULL,
    UNIQUE (account_id, external_id)
);

CREATE TABLE deliveries (
    id                   INTEGER PRIMARY KEY,
    account_id           INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    external_id          TEXT NOT NULL,
    purchase_external_id TEXT,
    carrier              TEXT NOT NULL,
    tracking_number      TEXT,
    status               TEXT NOT NULL,
    eta_from             TEXT,
    eta_to               TEXT,
    updated_at           TEXT NOT NULL,
    synced_at            TEXT NOT NULL,
    UNIQUE (account_id, external_id)
);

CREATE TABLE balance_snapshots (
    id           INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    ledger       TEXT NOT NULL,
    balance_type TEXT NOT NULL,
    currency     TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    as_of        TEXT NOT NULL,
    synced_at    TEXT NOT NULL,
    UNIQUE (account_id, ledger, balance_type, currency, as_of)
);

CREATE TABLE points_snapshots (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    points     INTEGER NOT NULL,
    as_of      TEXT NOT NULL,
    synced_at  TEXT NOT NULL,
    UNIQUE (account_id, as_of)
);

CREATE TABLE profiles (
    account_id              INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    name                    TEXT,
    email                   TEXT,
    phone                   TEXT,
    country                 TEXT,
    membership_tier         TEXT,
    purchase_power_minor    INTEGER,
    purchase_power_currency TEXT,
    refunds_to_balance      INTEGER CHECK (refunds_to_balance IN (0, 1)),
    updated_at              TEXT NOT NULL,
    synced_at               TEXT NOT NULL,
    CHECK ((purchase_power_minor IS NULL) = (purchase_power_currency IS NULL))
);

-- AUTOINCREMENT: an outbox reader remembers the last id it handled, so an id
-- must never be handed out twice, even after the newest events were deleted.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    payload     TEXT NOT NULL CHECK (json_valid(payload))
);
CREATE INDEX events_by_account ON events (account_id, id);
