//! Names in the SDKs' languages for SQL names, which may be any text (`"Unit Price"`).

use crate::codegen::{camel, snake};

/// A TypeScript property name: the SQL name itself when it is an identifier, else quoted.
pub fn ts_property(name: &str) -> String {
    let identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if identifier {
        name.to_string()
    } else {
        string_literal(name)
    }
}

/// A string literal for JavaScript, TypeScript and Python alike (JSON's escaping).
pub fn string_literal(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// A type name: `sales_by_country` → `SalesByCountry`.
pub fn type_name(name: &str) -> String {
    camel(name)
}

const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield", "match", "case", "type",
];

/// A Python attribute name: the SQL name when it is an identifier (a keyword gets a trailing
/// `_`, as PEP 8 says), else its snake_case form.
pub fn python_attribute(name: &str) -> String {
    let identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__");
    let base = if identifier {
        name.to_string()
    } else {
        snake(name)
    };
    if PYTHON_KEYWORDS.contains(&base.as_str()) {
        format!("{base}_")
    } else {
        base
    }
}

/// The text with its first letter in upper case.
pub fn capitalize(s: &str) -> String {
    let mut cs = s.chars();
    match cs.next() {
        Some(c) => c.to_uppercase().chain(cs).collect(),
        None => String::new(),
    }
}

/// Comment text that cannot end a `/* */` comment.
pub fn block_comment(s: &str) -> String {
    s.replace("*/", "*\\/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(ts_property("CustomerID"), "CustomerID");
        assert_eq!(ts_property("Unit Price"), "\"Unit Price\"");
        assert_eq!(ts_property("1st"), "\"1st\"");
        assert_eq!(python_attribute("class"), "class_");
        assert_eq!(python_attribute("Unit Price"), "unit_price");
        assert_eq!(python_attribute("__dozer"), "dozer");
        assert_eq!(type_name("sales_by_country"), "SalesByCountry");
    }
}
