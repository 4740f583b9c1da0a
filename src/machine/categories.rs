//! A group's category list: the defaults every group has, the names it added (`Group::categories`),
//! the rule a new name follows, and finding a transaction's category in the list. The action that
//! adds one (`add_category`) is in `exec/categories.rs`.

use super::groups::Group;
use super::Invalid;

/// Every group's categories, before the ones it adds. Not stored: a group holds only its additions.
pub const DEFAULT_CATEGORIES: [&str; 7] = ["food", "travel", "housing", "transport", "utilities", "fun", "other"];
/// The category a transaction without one counts under in `stats`.
pub const UNCATEGORIZED: &str = "other";
/// Names a group may add: each is echoed in the error that lists the valid ones, and in
/// `group_info`, so the list stays short enough to read.
pub const CATEGORIES_ADDED_MAX: usize = 50;
/// A category name is a label on a bar chart: short.
pub const CATEGORY_CHARS_MAX: usize = 32;

impl Group {
    /// The defaults, then the added names, in the order added.
    pub fn category_names(&self) -> impl Iterator<Item = &str> + '_ {
        DEFAULT_CATEGORIES.iter().copied().chain(self.categories.iter().map(String::as_str))
    }

    /// The list's own spelling of `name`, matched without regard to case.
    pub fn find_category(&self, name: &str) -> Option<&str> {
        self.category_names().find(|known| same_category(known, name))
    }
}

/// Two names are one category when they differ only in case (`Food` is `food`).
pub fn same_category(a: &str, b: &str) -> bool {
    a.chars().flat_map(char::to_lowercase).eq(b.chars().flat_map(char::to_lowercase))
}

/// A new category name: 1-`CATEGORY_CHARS_MAX` characters of letters, digits (any script), spaces,
/// `-`, `_`, `&`, `/`; not starting or ending with a space. Nothing that could rewrite a terminal
/// or pass for other text on a member's screen.
pub fn check_category_name(name: &str) -> Result<(), Invalid> {
    let count = name.chars().count();
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '&' | '/');
    let trimmed = !name.starts_with(' ') && !name.ends_with(' ');
    let visible = vocab::text::first_unsafe(name, vocab::text::unsafe_in_name).is_none();
    if (1..=CATEGORY_CHARS_MAX).contains(&count) && trimmed && visible && name.chars().all(allowed) {
        Ok(())
    } else {
        Err(Invalid::CategoryName)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        for good in ["ski", "Food & drink", "kids/school", "über", "月", "a-b_c", &"x".repeat(32)] {
            assert_eq!(check_category_name(good), Ok(()), "{good}");
        }
        for bad in ["", " ski", "ski ", "a\tb", "a\u{202e}b", "semi;colon", "emoji😀", &"x".repeat(33)] {
            assert_eq!(check_category_name(bad), Err(Invalid::CategoryName), "{bad:?}");
        }
        assert!(same_category("Food", "food") && !same_category("food", "fun"));
    }
}
