//! Which characters may be shown as themselves: the rule the server enforces on new group names and
//! descriptions, and the one `splitc` uses to escape whatever else reaches a terminal.
//!
//! Why one rule in the shared vocabulary: what the server refuses in new text and what the client
//! escapes in old text (or in text echoed back) must be the same set, or something slips between them.
//! The categories come from the Unicode Character Database (`unicode-properties`), not from a list
//! kept here by hand.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Why a character is not shown as itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unsafe {
    /// C0 and C1 controls and DEL (General_Category Cc): ESC starts terminal escape sequences (set
    /// the window title, clear the screen), CR and BS rewrite what is already on the line, tabs and
    /// newlines break table rows.
    Control,
    /// Bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069): they reorder the
    /// text shown after them, so what is read is not what is stored ("Trojan Source").
    Bidi,
    /// Every other format character (Cf): invisible (zero-width space, word joiner, BOM, tag
    /// characters), so two texts that look the same are different.
    Format,
    /// U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR (Zl, Zp): line breaks some programs honour
    /// and others do not.
    Separator,
    /// Private-use characters (Co), in names only: they look like whatever a font makes of them.
    PrivateUse,
    /// Unassigned code points and noncharacters (Cn), in names only: no normalisation or confusable
    /// data exists for them yet, so a look-alike check cannot judge them.
    Unassigned,
}

/// ZERO WIDTH NON-JOINER and ZERO WIDTH JOINER: format characters, but needed inside ordinary text —
/// ZWNJ is part of correct Persian and Indic spelling, ZWJ joins emoji sequences (👨‍👩‍👧). They move
/// no cursor and reorder nothing, so free text may hold them; names may not.
fn is_joiner(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Why `c` may not appear in free text (descriptions) nor be printed as itself; `None` if it may.
pub fn unsafe_in_text(c: char) -> Option<Unsafe> {
    if c.is_ascii() && !c.is_ascii_control() {
        return None;
    }
    match c.general_category() {
        GeneralCategory::Control => Some(Unsafe::Control),
        GeneralCategory::Format if is_bidi_control(c) => Some(Unsafe::Bidi),
        GeneralCategory::Format if is_joiner(c) => None,
        GeneralCategory::Format => Some(Unsafe::Format),
        GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => Some(Unsafe::Separator),
        _ => None,
    }
}

/// Why `c` may not appear in a name; `None` if it may. Stricter than [`unsafe_in_text`]: no joiners,
/// no private-use or unassigned characters.
pub fn unsafe_in_name(c: char) -> Option<Unsafe> {
    if is_joiner(c) {
        return Some(Unsafe::Format);
    }
    unsafe_in_text(c).or(match c.general_category() {
        GeneralCategory::PrivateUse => Some(Unsafe::PrivateUse),
        GeneralCategory::Unassigned => Some(Unsafe::Unassigned),
        _ => None,
    })
}

/// A character a rule refuses, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub ch: char,
    /// Counted in characters from 1, as a person counts.
    pub position: usize,
    pub why: Unsafe,
}

/// The first character of `text` that `rule` refuses.
pub fn first_unsafe(text: &str, rule: fn(char) -> Option<Unsafe>) -> Option<Found> {
    text.chars().enumerate().find_map(|(i, ch)| rule(ch).map(|why| Found { ch, position: i + 1, why }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_is_safe() {
        for text in ["dinner", "café", "Café ☕ & naan", "₹90", "trіp", "夕食", "ужин", "👨‍👩‍👧", "می‌خواهم", "🏖️"]
        {
            assert_eq!(first_unsafe(text, unsafe_in_text), None, "{text:?}");
        }
    }

    #[test]
    fn controls_bidi_format_and_separators_are_refused_where_they_are() {
        let found = |text: &str| first_unsafe(text, unsafe_in_text).map(|f| (f.ch, f.position, f.why));
        assert_eq!(found("ab\x1b]0;x\x07"), Some(('\x1b', 3, Unsafe::Control)));
        assert_eq!(found("a\tb"), Some(('\t', 2, Unsafe::Control)));
        assert_eq!(found("a\nb"), Some(('\n', 2, Unsafe::Control)));
        assert_eq!(found("\u{7f}"), Some(('\u{7f}', 1, Unsafe::Control)));
        assert_eq!(found("x\u{9b}2J"), Some(('\u{9b}', 2, Unsafe::Control)), "C1 CSI");
        assert_eq!(found("é\u{202E}txt.exe"), Some(('\u{202E}', 2, Unsafe::Bidi)));
        for bidi in ['\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{2066}', '\u{2069}'] {
            assert_eq!(unsafe_in_text(bidi), Some(Unsafe::Bidi), "{bidi:?}");
        }
        for format in ['\u{200B}', '\u{2060}', '\u{FEFF}', '\u{00AD}', '\u{E0041}'] {
            assert_eq!(unsafe_in_text(format), Some(Unsafe::Format), "{format:?}");
        }
        assert_eq!(found("a\u{2028}b"), Some(('\u{2028}', 2, Unsafe::Separator)));
        assert_eq!(found("a\u{2029}"), Some(('\u{2029}', 2, Unsafe::Separator)));
    }

    #[test]
    fn names_also_refuse_joiners_private_use_and_unassigned() {
        assert_eq!(unsafe_in_name('\u{200D}'), Some(Unsafe::Format));
        assert_eq!(unsafe_in_name('\u{200C}'), Some(Unsafe::Format));
        assert_eq!(unsafe_in_name('\u{E000}'), Some(Unsafe::PrivateUse));
        assert_eq!(unsafe_in_name('\u{FFFF}'), Some(Unsafe::Unassigned));
        assert_eq!(unsafe_in_name('\u{10FFFD}'), Some(Unsafe::PrivateUse));
        assert_eq!(unsafe_in_name('\u{1b}'), Some(Unsafe::Control));
        assert_eq!(unsafe_in_text('\u{E000}'), None, "free text may use a private-use glyph");
        for c in "trip café trіp 夕食 ー".chars() {
            assert_eq!(unsafe_in_name(c), None, "{c:?}");
        }
    }
}
