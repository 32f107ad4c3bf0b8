//! Rust names and types for SQL names and types.
//!
//! SQL names are free-form (`"Unit Price"`, `CustomerID`); generated Rust uses snake_case fields and
//! CamelCase types derived from them, made unique within their scope and never a keyword, so the
//! emitted code reads like hand-written code and always compiles.

use super::error::CodegenError;
use crate::types::SqlType;

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen", "r", "w", "d",
    "txn",
];

/// Comment text that cannot end the comment it sits in.
pub fn comment(s: &str) -> String {
    s.replace("*/", "* /")
}

/// `CustomerID` → `customer_id`, `Unit Price` → `unit_price`, `1st` → `f_1st`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            let boundary = c.is_ascii_uppercase()
                && i > 0
                && (chars[i - 1].is_ascii_lowercase()
                    || chars[i - 1].is_ascii_digit()
                    || (chars[i - 1].is_ascii_uppercase()
                        && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())));
            if boundary && !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_').to_string();
    if out.is_empty() {
        return "field".into();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        return format!("f_{out}");
    }
    if KEYWORDS.contains(&out.as_str()) {
        return format!("{out}_");
    }
    out
}

/// `sales_by_country` → `SalesByCountry`.
pub fn camel(name: &str) -> String {
    let mut out = String::new();
    for part in snake(name).split('_').filter(|p| !p.is_empty()) {
        let mut cs = part.chars();
        if let Some(first) = cs.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(cs);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, 'T');
    }
    out
}

/// Makes names unique in order of appearance: `id`, `id` → `id`, `id_2`.
pub fn unique(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for n in names {
        let mut candidate = n.clone();
        let mut k = 2;
        while out.contains(&candidate) {
            candidate = format!("{n}_{k}");
            k += 1;
        }
        out.push(candidate);
    }
    out
}

/// The Rust type of a non-null value of `ty` (as written in generated code).
pub fn rust_type(ty: SqlType) -> Result<&'static str, CodegenError> {
    Ok(match ty {
        SqlType::Boolean => "bool",
        SqlType::Int => "i64",
        SqlType::UInt => "u64",
        SqlType::Float => "f64",
        SqlType::Decimal => "Decimal",
        SqlType::String | SqlType::Text => "String",
        SqlType::Binary => "Vec<u8>",
        SqlType::Timestamp => "DateTime<Utc>",
        SqlType::Date => "NaiveDate",
        SqlType::Json => "serde_json::Value",
        SqlType::Duration => {
            return Err(CodegenError::Internal(
                "a duration-typed column reached code generation; check refuses it".into(),
            ))
        }
    })
}

/// The Rust type of a field: `Option<T>` exactly when nullable.
pub fn field_type(ty: SqlType, nullable: bool) -> Result<String, CodegenError> {
    let t = rust_type(ty)?;
    Ok(if nullable {
        format!("Option<{t}>")
    } else {
        t.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(snake("CustomerID"), "customer_id");
        assert_eq!(snake("InvoiceNo"), "invoice_no");
        assert_eq!(snake("Unit Price"), "unit_price");
        assert_eq!(snake("total_sales"), "total_sales");
        assert_eq!(snake("type"), "type_");
        assert_eq!(snake("1st"), "f_1st");
        assert_eq!(snake("__"), "field");
        assert_eq!(camel("sales_by_country"), "SalesByCountry");
        assert_eq!(camel("customer_lifetime_value"), "CustomerLifetimeValue");
        assert_eq!(
            unique(["id".to_string(), "id".into(), "id_2".into()]),
            vec!["id", "id_2", "id_2_2"]
        );
    }
}
