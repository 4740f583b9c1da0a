//! Splitwise's categories as splitd's defaults (`food`, `travel`, `housing`, `transport`,
//! `utilities`, `fun`, `other`), so `stats --by category` means something after an import.
//!
//! Splitwise exports the subcategory's English name (`Dining out`, `Taxi`, `Electricity`); each is
//! mapped to the default of the same kind. `General` (Splitwise's uncategorised) and names this
//! table does not know (a translated export, a category Splitwise added later) get no category:
//! a guess would put money in the wrong row of the totals, while none is plainly "not said".

/// Splitwise's subcategory names (lowercase) and splitd's default each becomes.
const MAP: &[(&str, &str)] = &[
    // Entertainment.
    ("entertainment", "fun"),
    ("games", "fun"),
    ("movies", "fun"),
    ("music", "fun"),
    ("sports", "fun"),
    // Food and drink.
    ("food and drink", "food"),
    ("dining out", "food"),
    ("groceries", "food"),
    ("liquor", "food"),
    // Home.
    ("home", "housing"),
    ("electronics", "housing"),
    ("furniture", "housing"),
    ("household supplies", "housing"),
    ("maintenance", "housing"),
    ("mortgage", "housing"),
    ("pets", "housing"),
    ("rent", "housing"),
    ("services", "housing"),
    // Life.
    ("life", "other"),
    ("childcare", "other"),
    ("clothing", "other"),
    ("education", "other"),
    ("gifts", "other"),
    ("insurance", "other"),
    ("medical expenses", "other"),
    ("taxes", "other"),
    // Transportation: getting around is transport; staying and flying away is travel.
    ("transportation", "transport"),
    ("bicycle", "transport"),
    ("bus/train", "transport"),
    ("car", "transport"),
    ("gas/fuel", "transport"),
    ("parking", "transport"),
    ("taxi", "transport"),
    ("hotel", "travel"),
    ("plane", "travel"),
    // Utilities.
    ("utilities", "utilities"),
    ("cleaning", "utilities"),
    ("electricity", "utilities"),
    ("heat/gas", "utilities"),
    ("trash", "utilities"),
    ("tv/phone/internet", "utilities"),
    ("water", "utilities"),
];

/// The splitd category a Splitwise category cell becomes, if any (matched ignoring case and the
/// spaces around it).
pub fn splitd_category(cell: &str) -> Option<&'static str> {
    let name = cell.trim().to_lowercase();
    MAP.iter().find(|(splitwise, _)| *splitwise == name).map(|&(_, ours)| ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_goes_to_its_default() {
        assert_eq!(splitd_category("Dining out"), Some("food"));
        assert_eq!(splitd_category(" groceries "), Some("food"));
        assert_eq!(splitd_category("Taxi"), Some("transport"));
        assert_eq!(splitd_category("Hotel"), Some("travel"));
        assert_eq!(splitd_category("Rent"), Some("housing"));
        assert_eq!(splitd_category("TV/Phone/Internet"), Some("utilities"));
        assert_eq!(splitd_category("Entertainment"), Some("fun"));
        assert_eq!(splitd_category("Gifts"), Some("other"));
    }

    #[test]
    fn general_and_unknown_names_get_none() {
        for cell in ["General", "", "Payment", "Essen & Trinken", "Dining"] {
            assert_eq!(splitd_category(cell), None, "{cell:?}");
        }
    }

    #[test]
    fn every_target_is_a_splitd_default() {
        const DEFAULTS: [&str; 7] = ["food", "travel", "housing", "transport", "utilities", "fun", "other"];
        assert!(MAP.iter().all(|(_, ours)| DEFAULTS.contains(ours)));
        assert!(MAP.iter().all(|(name, _)| *name == name.to_lowercase()), "names are lowercase");
    }
}
