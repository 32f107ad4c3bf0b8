//! Partition values: a partitioned table's files hold no partition columns; every row of a file
//! has the values its `add` action gives, written as text (an empty string or a missing value is
//! NULL, dates as `YYYY-MM-DD`, timestamps as `YYYY-MM-DD HH:MM:SS[.ffffff]` in UTC or ISO 8601).

use dozer_types::parse::parse_value;
use dozer_types::Value;

use crate::schema::DeltaType;

/// A partition column's value of type `ty`, as the log writes it.
pub fn partition_value(ty: &DeltaType, raw: Option<&str>) -> Result<Value, String> {
    let Some(text) = raw.filter(|t| !t.is_empty()) else {
        return Ok(Value::Null);
    };
    match ty {
        DeltaType::String => Ok(Value::String(text.to_string())),
        // The log writes a binary value's bytes as the string's characters.
        DeltaType::Binary => Ok(Value::Binary(text.as_bytes().to_vec())),
        other => {
            let sql = other.sql_type().ok_or_else(|| {
                format!(
                    "not supported yet: a partition column of type {}",
                    other.describe()
                )
            })?;
            parse_value(sql, text).map_err(|e| format!("partition value {text:?}: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_are_typed_and_empty_is_null() {
        assert_eq!(
            partition_value(&DeltaType::Long, Some("42")).unwrap(),
            Value::Int(42)
        );
        assert_eq!(
            partition_value(&DeltaType::Long, Some("")).unwrap(),
            Value::Null
        );
        assert_eq!(
            partition_value(&DeltaType::String, None).unwrap(),
            Value::Null
        );
        let Value::Timestamp(t) =
            partition_value(&DeltaType::Timestamp, Some("2024-01-02 03:04:05.000006")).unwrap()
        else {
            panic!()
        };
        assert_eq!(t.to_rfc3339(), "2024-01-02T03:04:05.000006+00:00");
        assert!(matches!(
            partition_value(&DeltaType::Date, Some("2024-02-30")),
            Err(e) if e.contains("2024-02-30")
        ));
    }
}
