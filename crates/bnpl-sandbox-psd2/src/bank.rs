//! The bank's data: accounts and a transaction timeline generated from the
//! seed, and what of it is visible at a given time.
//!
//! Every transaction has an entry time (when it appears, as pending unless
//! it books at once), a booking time (`None`: never books; its hold lapses
//! after [`HOLD_LAPSE_DAYS`]) and a booking date (normally the booking
//! time's date; earlier for a back-dated booking). Pending and booked rows
//! may carry different ids, and a booked row may carry none.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

/// A pending row that never books disappears after this many days.
pub const HOLD_LAPSE_DAYS: i64 = 10;
/// Days of generated future, so that advancing the clock shows new rows.
const FUTURE_DAYS: i64 = 120;

#[derive(Debug, Clone)]
pub struct Account {
    pub iban: String,
    pub currency: &'static str,
    pub name: &'static str,
    pub opening_minor: i64,
    pub txs: Vec<Tx>,
}

#[derive(Debug, Clone)]
pub struct Tx {
    pub pending_id: String,
    /// `None`: the booked row has no `transactionId`.
    pub booked_id: Option<String>,
    pub entry: DateTime<Utc>,
    pub book_at: Option<DateTime<Utc>>,
    pub booking_date: NaiveDate,
    pub amount_minor: i64,
    pub counterparty: String,
    pub counterparty_iban: Option<String>,
    pub remittance: String,
    pub code: &'static str,
}

/// A row as one report shows it.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    pub tx: &'a Tx,
    pub booked: bool,
}

impl Tx {
    pub fn is_booked(&self, now: DateTime<Utc>) -> bool {
        self.book_at.is_some_and(|b| b <= now)
    }

    /// Listed at `now` at all (entered, and not a lapsed hold).
    pub fn is_visible(&self, now: DateTime<Utc>) -> bool {
        self.entry <= now
            && (self.is_booked(now)
                || self.book_at.is_some()
                || now < self.entry + Duration::days(HOLD_LAPSE_DAYS))
    }
}

impl Row<'_> {
    pub fn id(&self) -> Option<&str> {
        if self.booked {
            self.tx.booked_id.as_deref()
        } else {
            Some(&self.tx.pending_id)
        }
    }

    pub fn to_json(&self, currency: &str) -> serde_json::Value {
        let tx = self.tx;
        let amount = format_minor(tx.amount_minor);
        let mut v = json!({
            "transactionAmount": {"currency": currency, "amount": amount},
            "remittanceInformationUnstructured": tx.remittance,
            "bankTransactionCode": tx.code,
        });
        if let Some(id) = self.id() {
            v["transactionId"] = json!(id);
        }
        let party = if tx.amount_minor < 0 {
            "creditor"
        } else {
            "debtor"
        };
        v[format!("{party}Name")] = json!(tx.counterparty);
        if let Some(iban) = &tx.counterparty_iban {
            v[format!("{party}Account")] = json!({ "iban": iban });
        }
        if self.booked {
            v["bookingDate"] = json!(tx.booking_date.to_string());
            v["valueDate"] = json!(tx.booking_date.to_string());
        } else {
            v["valueDate"] = json!(tx.entry.date_naive().to_string());
        }
        v
    }
}

/// Minor units with two decimals (EUR and SEK both have two).
pub fn format_minor(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// An IBAN with correct check digits (ISO 13616, mod 97).
pub fn iban(country: &str, bban: &str) -> String {
    let rearranged = format!("{bban}{country}00");
    let mut rem: u32 = 0;
    for c in rearranged.chars() {
        let digits = if c.is_ascii_digit() {
            c.to_string()
        } else {
            (c.to_ascii_uppercase() as u32 - 'A' as u32 + 10).to_string()
        };
        for d in digits.chars() {
            rem = (rem * 10 + d.to_digit(10).expect("digit")) % 97;
        }
    }
    format!("{country}{:02}{bban}", 98 - rem)
}

fn digits(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

const SHOPS: &[&str] = &[
    "Northwind Outdoor",
    "Cafe Lumen",
    "Stadtwerke",
    "Bokhandeln",
    "Pharmacia",
    "Urban Bikes",
    "Fjord Foods",
    "Mercado Sol",
    "Kino Central",
    "Tech Depot",
];

/// The two accounts with their timelines. The EUR account carries the hard
/// cases around `start`:
/// - `HOLD-`: a pending card hold from the day before `start` that never books;
/// - a pending payment from the day before that books 2 days after `start`
///   under a new id;
/// - a booked row without `transactionId` two days before `start`;
/// - a row that appears one day after `start`, back-dated to the day before it.
pub fn generate(rng: &mut ChaCha8Rng, start: DateTime<Utc>, history_days: i64) -> Vec<Account> {
    let eur_iban = iban("DE", &format!("37040044{}", digits(rng, 10)));
    let sek_iban = iban("SE", &format!("500{}", digits(rng, 17)));
    let mut eur = Account {
        iban: eur_iban,
        currency: "EUR",
        name: "Klarna Balance",
        opening_minor: rng.random_range(50_000..150_000),
        txs: timeline(rng, "e", start, history_days),
    };
    let sek = Account {
        iban: sek_iban,
        currency: "SEK",
        name: "Klarna Sparkonto",
        opening_minor: rng.random_range(500_000..1_500_000),
        txs: timeline(rng, "s", start, history_days),
    };
    let day = Duration::days(1);
    let base = |h: i64| start - day + Duration::hours(h);
    eur.txs.push(Tx {
        pending_id: "HOLD-e-0001".into(),
        booked_id: None,
        entry: base(-2),
        book_at: None,
        booking_date: (start - day).date_naive(),
        amount_minor: -12_000,
        counterparty: "Hotel Alpenblick".into(),
        counterparty_iban: None,
        remittance: "Card hold Hotel Alpenblick".into(),
        code: "PMNT-CCRD-POSD",
    });
    eur.txs.push(Tx {
        pending_id: "PEND-e-0002".into(),
        booked_id: Some("BOOK-e-0002".into()),
        entry: base(-1),
        book_at: Some(start + day * 2 + Duration::hours(1)),
        booking_date: (start + day * 2).date_naive(),
        amount_minor: -4_999,
        counterparty: "Northwind Outdoor".into(),
        counterparty_iban: Some(iban("DE", "10010010123456789012")),
        remittance: "Order 8fa3c1 Trail jacket".into(),
        code: "PMNT-ICDT-ESCT",
    });
    eur.txs.push(Tx {
        pending_id: "NOID-e-0003".into(),
        booked_id: None,
        entry: start - day * 2,
        book_at: Some(start - day * 2),
        booking_date: (start - day * 2).date_naive(),
        amount_minor: 2_500,
        counterparty: "Klarna Cashback".into(),
        counterparty_iban: None,
        remittance: "Cashback October".into(),
        code: "PMNT-RCDT-ESCT",
    });
    eur.txs.push(Tx {
        pending_id: "LATE-e-0004".into(),
        booked_id: Some("LATE-e-0004".into()),
        entry: start + day + Duration::hours(1),
        book_at: Some(start + day + Duration::hours(1)),
        booking_date: (start - day).date_naive(),
        amount_minor: -1_999,
        counterparty: "Stadtwerke".into(),
        counterparty_iban: Some(iban("DE", "50050000123456789012")),
        remittance: "Back-dated direct debit".into(),
        code: "PMNT-RDDT-ESDD",
    });
    eur.txs.sort_by_key(|t| t.entry);
    vec![eur, sek]
}

fn timeline(rng: &mut ChaCha8Rng, tag: &str, start: DateTime<Utc>, history_days: i64) -> Vec<Tx> {
    let mut txs = Vec::new();
    let first = start - Duration::days(history_days);
    let mut n = 0;
    for d in 0..(history_days + FUTURE_DAYS) {
        let count = rng.random_range(0..3);
        for _ in 0..count {
            n += 1;
            let entry =
                first + Duration::days(d) + Duration::minutes(rng.random_range(6 * 60..22 * 60));
            let credit = rng.random_range(0..6) == 0;
            let magnitude: i64 = rng.random_range(150..25_000);
            let pending_days = rng.random_range(0..4i64);
            let book_at = entry + Duration::days(pending_days) + Duration::hours(2);
            let new_id = pending_days > 0 && rng.random_range(0..2) == 0;
            let shop = SHOPS[rng.random_range(0..SHOPS.len())];
            let pending_id = format!("{tag}-{n:05}");
            txs.push(Tx {
                booked_id: Some(if new_id {
                    format!("{tag}-{n:05}-B")
                } else {
                    pending_id.clone()
                }),
                pending_id,
                entry,
                book_at: Some(book_at),
                booking_date: book_at.date_naive(),
                amount_minor: if credit { magnitude } else { -magnitude },
                counterparty: if credit {
                    "Refund ".to_string() + shop
                } else {
                    shop.to_string()
                },
                counterparty_iban: None,
                remittance: format!("Ref {tag}{n:05} {shop}"),
                code: if credit {
                    "PMNT-RCDT-ESCT"
                } else {
                    "PMNT-CCRD-POSD"
                },
            });
        }
    }
    txs
}

impl Account {
    /// The report's rows at `now`: booked ones by booking date from
    /// `date_from` (and to `date_to`), pending ones by entry date.
    pub fn rows(
        &self,
        now: DateTime<Utc>,
        date_from: NaiveDate,
        date_to: Option<NaiveDate>,
    ) -> (Vec<Row<'_>>, Vec<Row<'_>>) {
        let in_range = |d: NaiveDate| d >= date_from && date_to.is_none_or(|to| d <= to);
        let mut booked: Vec<Row<'_>> = self
            .txs
            .iter()
            .filter(|t| t.is_visible(now) && t.is_booked(now) && in_range(t.booking_date))
            .map(|tx| Row { tx, booked: true })
            .collect();
        booked.sort_by_key(|r| (r.tx.booking_date, r.tx.entry));
        let pending: Vec<Row<'_>> = self
            .txs
            .iter()
            .filter(|t| t.is_visible(now) && !t.is_booked(now) && in_range(t.entry.date_naive()))
            .map(|tx| Row { tx, booked: false })
            .collect();
        (booked, pending)
    }

    /// `(closingBooked, interimAvailable, expected)` at `now`.
    pub fn balances(&self, now: DateTime<Utc>) -> (i64, i64, i64) {
        let today = now.date_naive();
        let visible = self.txs.iter().filter(|t| t.is_visible(now));
        let mut closing = self.opening_minor;
        let mut interim = self.opening_minor;
        let mut expected = self.opening_minor;
        for t in visible {
            if t.is_booked(now) {
                interim += t.amount_minor;
                expected += t.amount_minor;
                if t.booking_date < today {
                    closing += t.amount_minor;
                }
            } else {
                expected += t.amount_minor;
            }
        }
        (closing, interim, expected)
    }

    /// The truth at `now`, for tests.
    pub fn state(&self, now: DateTime<Utc>) -> serde_json::Value {
        let (closing, interim, expected) = self.balances(now);
        let (booked, pending) = self.rows(now, NaiveDate::MIN, None);
        let list = |rows: &[Row<'_>]| -> Vec<serde_json::Value> {
            rows.iter()
                .map(|r| {
                    json!({
                        "transactionId": r.id(),
                        "date": if r.booked { r.tx.booking_date } else { r.tx.entry.date_naive() },
                        "amount": format_minor(r.tx.amount_minor),
                        "counterparty": r.tx.counterparty,
                    })
                })
                .collect()
        };
        json!({
            "iban": self.iban,
            "currency": self.currency,
            "now": now,
            "balances": {
                "closingBooked": format_minor(closing),
                "interimAvailable": format_minor(interim),
                "expected": format_minor(expected),
            },
            "booked": list(&booked),
            "pending": list(&pending),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ibans_have_valid_check_digits() {
        // The standard example: DE89 3704 0044 0532 0130 00.
        assert_eq!(iban("DE", "370400440532013000"), "DE89370400440532013000");
        assert_eq!(iban("GB", "WEST12345698765432"), "GB82WEST12345698765432");
    }

    #[test]
    fn amounts_format_with_two_decimals() {
        assert_eq!(format_minor(-4999), "-49.99");
        assert_eq!(format_minor(5), "0.05");
        assert_eq!(format_minor(120000), "1200.00");
    }

    #[test]
    fn generation_is_deterministic_from_the_seed() {
        let start: DateTime<Utc> = "2026-11-20T12:00:00Z".parse().unwrap();
        let a = generate(&mut ChaCha8Rng::seed_from_u64(7), start, 30);
        let b = generate(&mut ChaCha8Rng::seed_from_u64(7), start, 30);
        let c = generate(&mut ChaCha8Rng::seed_from_u64(8), start, 30);
        assert_eq!(a[0].state(start), b[0].state(start));
        assert_ne!(a[0].iban, c[0].iban);
        assert_eq!(a[1].currency, "SEK");
    }
}
