//! A Delta table's schema, as its `metaData` action's `schemaString` writes it (Spark's JSON form
//! of a struct type), and what each column type is in SQL here.

use dozer_types::SqlType;
use serde_json::Value as Json;

/// A top-level column of a Delta table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeltaField {
    pub name: String,
    pub data_type: DeltaType,
    pub nullable: bool,
}

/// The Delta primitive types, and any other type by its description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeltaType {
    Long,
    Integer,
    Short,
    Byte,
    Float,
    Double,
    Boolean,
    String,
    Binary,
    Date,
    /// Microseconds since the epoch, in UTC.
    Timestamp,
    /// Microseconds since the epoch of a wall-clock time without a zone (read as UTC).
    TimestampNtz,
    Decimal {
        precision: u8,
        scale: u8,
    },
    /// A struct, array, map or a type this reader does not know, as the schema describes it.
    Unsupported(String),
}

impl DeltaType {
    /// The SQL type of a column of this type; `None` where it has none yet.
    pub fn sql_type(&self) -> Option<SqlType> {
        Some(match self {
            DeltaType::Long | DeltaType::Integer | DeltaType::Short | DeltaType::Byte => {
                SqlType::Int
            }
            DeltaType::Float | DeltaType::Double => SqlType::Float,
            DeltaType::Boolean => SqlType::Boolean,
            DeltaType::String => SqlType::String,
            DeltaType::Binary => SqlType::Binary,
            DeltaType::Date => SqlType::Date,
            DeltaType::Timestamp | DeltaType::TimestampNtz => SqlType::Timestamp,
            // At most 28 digits fit the runtime's decimal; wider ones are refused where read.
            DeltaType::Decimal { precision, .. } if *precision <= 28 => SqlType::Decimal,
            DeltaType::Decimal { .. } | DeltaType::Unsupported(_) => return None,
        })
    }

    /// The type as the schema spells it, for messages.
    pub fn describe(&self) -> String {
        match self {
            DeltaType::Long => "long".into(),
            DeltaType::Integer => "integer".into(),
            DeltaType::Short => "short".into(),
            DeltaType::Byte => "byte".into(),
            DeltaType::Float => "float".into(),
            DeltaType::Double => "double".into(),
            DeltaType::Boolean => "boolean".into(),
            DeltaType::String => "string".into(),
            DeltaType::Binary => "binary".into(),
            DeltaType::Date => "date".into(),
            DeltaType::Timestamp => "timestamp".into(),
            DeltaType::TimestampNtz => "timestamp_ntz".into(),
            DeltaType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            DeltaType::Unsupported(what) => what.clone(),
        }
    }

    fn parse(ty: &Json) -> DeltaType {
        let Some(name) = ty.as_str() else {
            let kind = ty.get("type").and_then(Json::as_str).unwrap_or("unknown");
            return DeltaType::Unsupported(kind.to_string());
        };
        match name {
            "long" => DeltaType::Long,
            "integer" => DeltaType::Integer,
            "short" => DeltaType::Short,
            "byte" => DeltaType::Byte,
            "float" => DeltaType::Float,
            "double" => DeltaType::Double,
            "boolean" => DeltaType::Boolean,
            "string" => DeltaType::String,
            "binary" => DeltaType::Binary,
            "date" => DeltaType::Date,
            "timestamp" => DeltaType::Timestamp,
            "timestamp_ntz" => DeltaType::TimestampNtz,
            other => decimal(other).unwrap_or_else(|| DeltaType::Unsupported(other.to_string())),
        }
    }
}

/// `decimal(p,s)`.
fn decimal(name: &str) -> Option<DeltaType> {
    let inner = name.strip_prefix("decimal(")?.strip_suffix(')')?;
    let (p, s) = inner.split_once(',')?;
    Some(DeltaType::Decimal {
        precision: p.trim().parse().ok()?,
        scale: s.trim().parse().ok()?,
    })
}

/// The columns of a `schemaString`.
pub(crate) fn parse_schema(text: &str) -> Result<Vec<DeltaField>, String> {
    let json: Json =
        serde_json::from_str(text).map_err(|e| format!("its schema is not JSON: {e}"))?;
    let fields = json
        .get("fields")
        .and_then(Json::as_array)
        .ok_or("its schema has no `fields`")?;
    fields
        .iter()
        .map(|f| {
            let name = f
                .get("name")
                .and_then(Json::as_str)
                .ok_or("a field of its schema has no `name`")?;
            Ok(DeltaField {
                name: name.to_string(),
                data_type: DeltaType::parse(f.get("type").unwrap_or(&Json::Null)),
                nullable: f.get("nullable").and_then(Json::as_bool).unwrap_or(true),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_string_gives_columns_with_their_types() {
        let fields = parse_schema(
            r#"{"type":"struct","fields":[
                {"name":"id","type":"long","nullable":false,"metadata":{}},
                {"name":"price","type":"decimal(10,2)","nullable":true,"metadata":{}},
                {"name":"tags","type":{"type":"array","elementType":"string","containsNull":true},"nullable":true,"metadata":{}}]}"#,
        )
        .unwrap();
        assert_eq!(fields[0].data_type, DeltaType::Long);
        assert!(!fields[0].nullable);
        assert_eq!(
            fields[1].data_type,
            DeltaType::Decimal {
                precision: 10,
                scale: 2
            }
        );
        assert_eq!(fields[1].data_type.sql_type(), Some(SqlType::Decimal));
        assert_eq!(fields[2].data_type, DeltaType::Unsupported("array".into()));
        assert_eq!(fields[2].data_type.sql_type(), None);
    }
}
