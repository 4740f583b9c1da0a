//! The idempotency key of each imported row, so a second run adds nothing and an interrupted run
//! resumes where it stopped.
//!
//! A row's key is `sw-` and 32 hex digits of the SHA-256 of what the row says: its date,
//! description, cost, whether it is a payment, and each member's non-zero cell by the member's name
//! in the file, plus how many identical rows came before it in the file (two equal coffees are two
//! expenses). Not the line number nor the raw text: a later export of the same group, with new rows
//! anywhere, gives the old rows the same keys (only the new ones are added), and so does the same
//! file saved with decimal commas or with a new member's column. A payment row makes one payment per
//! receiver: `<key>-1`, `<key>-2`, …
//!
//! The server keeps keys per user and group: the same user must run the import again for it to add
//! nothing.

use sha2::{Digest, Sha256};

use super::file::Export;

/// One key per row of `export`, in order; each 35 characters (the server takes up to 64).
pub fn row_keys(export: &Export) -> Vec<String> {
    let mut seen: Vec<[u8; 32]> = Vec::with_capacity(export.rows.len());
    let mut keys = Vec::with_capacity(export.rows.len());
    for row in &export.rows {
        let mut content = Sha256::new();
        // Each field ends with a byte no text holds, so fields cannot run into each other.
        let mut put = |text: &str| {
            content.update(text.as_bytes());
            content.update([0xff]);
        };
        put("splitwise-row-v1");
        put(&row.date);
        put(&row.description);
        put(&row.cost.0.to_string());
        put(if row.payment { "payment" } else { "expense" });
        for (name, cell) in export.members.iter().zip(&row.cells).filter(|(_, c)| c.0 != 0) {
            put(name);
            put(&cell.0.to_string());
        }
        let content: [u8; 32] = content.finalize().into();
        let before = seen.iter().filter(|s| **s == content).count();
        seen.push(content);
        let mut keyed = Sha256::new();
        keyed.update(content);
        keyed.update(before.to_le_bytes());
        let digest = keyed.finalize();
        keys.push(format!("sw-{}", digest[..16].iter().map(|b| format!("{b:02x}")).collect::<String>()));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::super::file::read;
    use super::*;

    const HEAD: &str = "Date,Description,Category,Cost,Currency,Alice,Bob\n";

    fn keys(rows: &str) -> Vec<String> {
        row_keys(&read(&format!("{HEAD}{rows}")).unwrap())
    }

    #[test]
    fn keys_follow_the_row_not_its_place_or_spelling() {
        let a = "2025-01-01,Coffee,Food,3.00,EUR,1.50,-1.50\n";
        let b = "2025-01-02,Lunch,Food,20.00,EUR,-10.00,10.00\n";
        let first = keys(&format!("{a}{b}"));
        assert_eq!(first[0].len(), 35);
        assert!(first[0].starts_with("sw-"));
        assert_ne!(first[0], first[1]);
        // A row added before them, the same rows in another order: the old rows keep their keys.
        let later = keys(&format!("2024-12-31,Taxi,Transport,8.00,EUR,4.00,-4.00\n{b}{a}"));
        assert_eq!((later[2].as_str(), later[1].as_str()), (first[0].as_str(), first[1].as_str()));
        // Decimal commas: the same keys.
        let german = row_keys(
            &read(
                "Datum;Beschreibung;Kategorie;Kosten;Währung;Alice;Bob\n2025-01-01;Coffee;Essen;3,00;EUR;1,50;-1,50\n",
            )
            .unwrap(),
        );
        assert_eq!(german[0], first[0]);
        // Two identical coffees are two rows; a different amount is a different row.
        let twice = keys(&format!("{a}{a}"));
        assert_eq!(twice[0], first[0]);
        assert_ne!(twice[1], twice[0]);
        assert_ne!(keys("2025-01-01,Coffee,Food,3.00,EUR,1.60,-1.60\n")[0], first[0]);
    }
}
