//! Static reference data: merchants, their catalogue, names, carriers.

pub(crate) struct ItemSpec {
    pub name: &'static str,
    /// Unit price range in minor units (inclusive).
    pub min: i64,
    pub max: i64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    /// Settles for the authorised amount.
    Exact,
    /// Settles for the amount plus a tip.
    Tip,
    /// Authorises a fixed hold, settles for what was pumped.
    FuelHold,
}

pub(crate) struct Merchant {
    pub name: &'static str,
    pub category: &'static str,
    pub mcc: &'static str,
    /// Ships goods (a purchase gets a delivery).
    pub physical: bool,
    /// Cashback in percent of the captured amount (0 = not participating).
    pub cashback_pct: i64,
    /// Sells items large enough for monthly financing.
    pub big_ticket: bool,
    /// Sells through Klarna checkout (purchases).
    pub shop: bool,
    /// Seen on the Klarna Card ledger.
    pub card: bool,
    pub settle: Settle,
    pub items: &'static [ItemSpec],
}

const fn item(name: &'static str, min: i64, max: i64) -> ItemSpec {
    ItemSpec { name, min, max }
}

#[allow(clippy::too_many_arguments)]
const fn shop(
    name: &'static str,
    category: &'static str,
    mcc: &'static str,
    physical: bool,
    cashback_pct: i64,
    big_ticket: bool,
    card: bool,
    items: &'static [ItemSpec],
) -> Merchant {
    Merchant {
        name,
        category,
        mcc,
        physical,
        cashback_pct,
        big_ticket,
        shop: true,
        card,
        settle: Settle::Exact,
        items,
    }
}

const fn card_only(
    name: &'static str,
    category: &'static str,
    mcc: &'static str,
    settle: Settle,
    items: &'static [ItemSpec],
) -> Merchant {
    Merchant {
        name,
        category,
        mcc,
        physical: false,
        cashback_pct: 0,
        big_ticket: false,
        shop: false,
        card: true,
        settle,
        items,
    }
}

pub(crate) static MERCHANTS: &[Merchant] = &[
    shop(
        "Northwind Outdoor",
        "sporting_goods",
        "5941",
        true,
        5,
        false,
        true,
        &[
            item("Trail jacket", 4_999, 12_999),
            item("Hiking boots", 8_999, 18_999),
            item("Trekking poles", 2_999, 6_999),
        ],
    ),
    shop(
        "Lumen Electronics",
        "electronics",
        "5732",
        true,
        2,
        true,
        true,
        &[
            item("Laptop", 69_999, 189_999),
            item("Noise-cancelling headphones", 9_999, 34_999),
            item("4K monitor", 24_999, 69_999),
        ],
    ),
    shop(
        "Harbor Home Furnishings",
        "home_furniture",
        "5712",
        true,
        3,
        true,
        false,
        &[
            item("Sectional sofa", 89_999, 249_999),
            item("Oak dining table", 59_999, 149_999),
            item("Floor lamp", 4_999, 14_999),
        ],
    ),
    shop(
        "Maple & Thread",
        "apparel",
        "5651",
        true,
        8,
        false,
        true,
        &[
            item("Selvedge jeans", 5_999, 12_999),
            item("Merino sweater", 3_999, 8_999),
            item("Canvas sneakers", 4_999, 11_999),
        ],
    ),
    shop(
        "Glow Beauty Co",
        "beauty",
        "5977",
        true,
        10,
        false,
        true,
        &[
            item("Vitamin C serum", 2_499, 6_999),
            item("Eyeshadow palette", 1_999, 5_999),
            item("Hair dryer", 7_999, 29_999),
        ],
    ),
    shop(
        "Skyline Travel",
        "travel",
        "4722",
        false,
        2,
        true,
        false,
        &[
            item("Round-trip flight", 29_999, 89_999),
            item("Hotel stay", 39_999, 99_999),
        ],
    ),
    shop(
        "Evergreen Jewelers",
        "jewelry",
        "5944",
        true,
        4,
        true,
        false,
        &[
            item("Diamond ring", 49_999, 199_999),
            item("Gold necklace", 29_999, 99_999),
        ],
    ),
    shop(
        "Pixel Arcade",
        "electronics",
        "5734",
        true,
        5,
        false,
        true,
        &[
            item("Game console", 39_999, 59_999),
            item("Video game", 2_999, 6_999),
            item("Wireless controller", 5_999, 7_999),
        ],
    ),
    shop(
        "Atlas Sleep",
        "home_furniture",
        "5712",
        true,
        0,
        true,
        false,
        &[
            item("Queen mattress", 79_999, 199_999),
            item("Pillow set", 4_999, 9_999),
        ],
    ),
    shop(
        "Cinema Galaxy",
        "entertainment",
        "7832",
        false,
        0,
        false,
        true,
        &[
            item("Movie tickets", 1_500, 4_500),
            item("Concession combo", 1_200, 2_400),
        ],
    ),
    card_only(
        "FreshMart Grocery",
        "groceries",
        "5411",
        Settle::Exact,
        &[item("Groceries", 1_500, 18_000)],
    ),
    card_only(
        "Quick Fuel",
        "fuel",
        "5541",
        Settle::FuelHold,
        &[item("Fuel", 2_500, 8_000)],
    ),
    card_only(
        "Bistro 21",
        "restaurants",
        "5812",
        Settle::Tip,
        &[item("Dinner", 2_500, 14_000)],
    ),
    card_only(
        "Corner Coffee",
        "restaurants",
        "5814",
        Settle::Tip,
        &[item("Coffee", 350, 1_400)],
    ),
    card_only(
        "CityRide",
        "transportation",
        "4121",
        Settle::Exact,
        &[item("Ride", 900, 4_500)],
    ),
    card_only(
        "StreamBox",
        "digital_media",
        "4899",
        Settle::Exact,
        &[item("Subscription", 999, 2_299)],
    ),
];

pub(crate) fn merchant(idx: u16) -> &'static Merchant {
    &MERCHANTS[usize::from(idx) % MERCHANTS.len()]
}

pub(crate) static FIRST_NAMES: &[&str] = &[
    "Avery", "Jordan", "Maya", "Elijah", "Sofia", "Mateo", "Harper", "Noah", "Chloe", "Liam",
    "Aaliyah", "Ethan", "Priya", "Marcus", "Grace", "Diego",
];

pub(crate) static LAST_NAMES: &[&str] = &[
    "Johnson", "Garcia", "Nguyen", "Patel", "Williams", "Brown", "Martinez", "Kim", "Davis",
    "Lopez", "Wilson", "Anderson", "Thomas", "Moore", "Jackson", "Lee",
];

pub(crate) static CARRIERS: &[&str] = &["UPS", "USPS", "FedEx", "DHL"];

/// A carrier-looking tracking number derived from the delivery id.
pub(crate) fn tracking_number(carrier: u8, id: u64) -> String {
    match carrier {
        0 => format!("1Z{:016X}", id),
        1 => format!("9400{:018}", id % 1_000_000_000_000_000_000),
        2 => format!("{:012}", id % 1_000_000_000_000),
        _ => format!("{:010}", id % 10_000_000_000),
    }
}
