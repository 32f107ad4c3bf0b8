//! The OpenAPI 3.1 document of an app's REST API.
//!
//! One function builds it from the endpoints' schemas, so the document dozerc writes next to the
//! config, the one compiled into the binary and the ones it serves (`GET /openapi.json`, and per
//! endpoint `<path>/oapi`) are the same bytes. Record schemas follow [`crate::Value::to_json`]:
//! decimals as strings, timestamps RFC 3339, floats as numbers or `"NaN"`/`"inf"`/`"-inf"`,
//! nullable fields also `null`; every record has `__dozer_record_id` and `__dozer_record_version`.

use serde_json::{json, Map, Value as Json};

use crate::endpoint::EndpointSchema;
use crate::SqlType;

/// The largest `$limit` a query may ask for unless the app says otherwise.
pub const DEFAULT_MAX_LIMIT: u64 = 10_000;

/// JSON numbers given for decimal fields must be below this in magnitude (the largest decimal is
/// 79228162514264337593543950335; the margin absorbs float rounding). The API enforces exactly
/// this bound, so what the document allows is accepted and what it forbids is refused.
pub const DECIMAL_NUMBER_LIMIT: f64 = 7.9e28;

/// Decimals as text: an optional `-`, at most 28 digits, an optional fraction of at most 28.
pub const DECIMAL_PATTERN: &str = "^-?[0-9]{1,28}(\\.[0-9]{1,28})?$";

/// The whole app's document, or (with `only`) one endpoint's.
pub fn document(
    app: &str,
    endpoints: &[EndpointSchema],
    max_limit: u64,
    only: Option<usize>,
) -> Json {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    if only.is_none() {
        paths.insert(
            "/".into(),
            operation(
                "get",
                "endpoints",
                "The endpoints' paths.",
                None,
                json!({"type": "array", "items": {"type": "string"}}),
                &[],
            ),
        );
        paths.insert(
            "/health".into(),
            operation(
                "get",
                "health",
                "Whether the API serves.",
                None,
                json!({"type": "object", "properties": {"status": {"type": "string", "enum": ["SERVING"]}}, "required": ["status"]}),
                &[],
            ),
        );
        paths.insert(
            "/openapi.json".into(),
            operation(
                "get",
                "openapi",
                "This document.",
                None,
                json!({"type": "object"}),
                &[],
            ),
        );
    }
    for (i, e) in endpoints.iter().enumerate() {
        if only.is_some_and(|o| o != i) {
            continue;
        }
        let record = record_name(&e.name);
        schemas.insert(record.clone(), record_schema(e));
        schemas.insert(filter_name(&e.name), filter_schema(e));
        let reference = json!({"$ref": format!("#/components/schemas/{record}")});
        let records = json!({"type": "array", "items": reference});
        let path = normalized(&e.path);
        let id = &e.name;
        paths.insert(
            path.clone(),
            operation(
                "get",
                &format!("list_{id}"),
                &format!("The first records of `{}`.", e.name),
                None,
                records.clone(),
                &[],
            ),
        );
        if let Some(key) = key_parameter(e) {
            let mut op = operation(
                "get",
                &format!("get_{id}"),
                &format!("A record of `{}` by {}.", e.name, key.1),
                None,
                reference.clone(),
                &[400, 404],
            );
            op["get"]["parameters"] = json!([{
                "name": "key", "in": "path", "required": true,
                "description": key.1, "schema": key.0,
            }]);
            paths.insert(format!("{path}/{{key}}"), op);
        }
        paths.insert(
            format!("{path}/query"),
            operation(
                "post",
                &format!("query_{id}"),
                &format!("Records of `{}` that a query selects.", e.name),
                Some(query_schema(e, max_limit)),
                records,
                &[400, 404, 422],
            ),
        );
        paths.insert(
            format!("{path}/count"),
            operation(
                "post",
                &format!("count_{id}"),
                &format!("How many records of `{}` a query's filter selects.", e.name),
                Some(query_schema(e, max_limit)),
                json!({"type": "integer", "minimum": 0}),
                &[400, 422],
            ),
        );
        paths.insert(
            format!("{path}/phase"),
            operation(
                "post",
                &format!("phase_{id}"),
                "Snapshotting until every source has been read once, then Streaming.",
                None,
                json!({"type": "string", "enum": ["Snapshotting", "Streaming"]}),
                &[],
            ),
        );
        let mut oapi = operation(
            "get",
            &format!("oapi_{id}"),
            &format!("The OpenAPI document of `{}`.", e.name),
            None,
            json!({"type": "object"}),
            &[],
        );
        let post = operation(
            "post",
            &format!("oapi_post_{id}"),
            &format!("The OpenAPI document of `{}`.", e.name),
            None,
            json!({"type": "object"}),
            &[],
        );
        oapi["post"] = post["post"].clone();
        paths.insert(format!("{path}/oapi"), oapi);
    }
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": format!("{app} API"), "version": "1", "description": "Generated by dozerc from the app's config and SQL."},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn normalized(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

fn record_name(endpoint: &str) -> String {
    format!("{}Record", crate::grpc::pascal(endpoint))
}

/// The JSON schema of a field's values as the API prints them.
pub fn field_schema(ty: SqlType, nullable: bool) -> Json {
    let schema = match ty {
        SqlType::Boolean => json!({"type": "boolean"}),
        SqlType::Int => json!({"type": "integer", "format": "int64"}),
        SqlType::UInt => json!({"type": "integer", "minimum": 0}),
        SqlType::Float => {
            json!({"anyOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "inf", "-inf"]}]})
        }
        SqlType::Decimal => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$", "description": "an exact decimal, as a string"})
        }
        SqlType::String | SqlType::Text => json!({"type": "string"}),
        SqlType::Binary => {
            json!({"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255}})
        }
        SqlType::Timestamp => json!({"type": "string", "format": "date-time"}),
        SqlType::Date => json!({"type": "string", "format": "date"}),
        SqlType::Json => json!({}),
        SqlType::Duration => json!({
            "type": "object",
            "properties": {"value": {"type": "string"}, "time_unit": {"type": "string", "enum": ["Nanoseconds", "Milliseconds"]}},
            "required": ["value", "time_unit"],
        }),
    };
    if nullable && ty != SqlType::Json {
        json!({"anyOf": [schema, {"type": "null"}]})
    } else {
        schema
    }
}

fn record_schema(e: &EndpointSchema) -> Json {
    let mut properties = Map::new();
    let mut required: Vec<Json> = vec![];
    for f in &e.fields {
        properties.insert(f.name.clone(), field_schema(f.ty, f.nullable));
        required.push(json!(f.name));
    }
    properties.insert(
        "__dozer_record_id".into(),
        json!({"type": "integer", "minimum": 0}),
    );
    properties.insert(
        "__dozer_record_version".into(),
        json!({"type": "integer", "minimum": 0}),
    );
    required.push(json!("__dozer_record_id"));
    required.push(json!("__dozer_record_version"));
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// The `{key}` path parameter's schema and description, when records can be addressed by one.
fn key_parameter(e: &EndpointSchema) -> Option<(Json, String)> {
    match &e.primary_key {
        None => Some((
            json!({"type": "integer", "minimum": 0}),
            "record id".to_string(),
        )),
        Some(cols) if cols.len() == 1 => {
            let (name, ty) = (&e.fields[cols[0]].name, e.fields[cols[0]].ty);
            let schema = match ty {
                SqlType::Int => json!({"type": "integer", "format": "int64"}),
                SqlType::UInt => json!({"type": "integer", "minimum": 0}),
                SqlType::Boolean => json!({"type": "boolean"}),
                _ => json!({"type": "string"}),
            };
            Some((schema, format!("primary key `{name}`")))
        }
        _ => None,
    }
}

/// The JSON a filter accepts for a field's values (`None`: the field cannot be filtered on).
fn filter_value_schema(ty: SqlType) -> Option<Json> {
    Some(match ty {
        SqlType::Boolean => json!({"type": "boolean"}),
        // As a number, or as a string of digits for clients whose numbers are doubles.
        SqlType::Int => json!({"anyOf": [
            {"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX},
            {"type": "string", "pattern": "^-?[0-9]{1,19}$"},
        ]}),
        SqlType::UInt => json!({"anyOf": [
            {"type": "integer", "minimum": 0, "maximum": u64::MAX},
            {"type": "string", "pattern": "^[0-9]{1,20}$"},
        ]}),
        SqlType::Float => {
            json!({"anyOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "inf", "-inf"]}]})
        }
        // Exact as a string (at most 28 digits); a JSON number is taken at its nearest decimal.
        SqlType::Decimal => json!({"anyOf": [
            {"type": "string", "pattern": DECIMAL_PATTERN},
            {"type": "number", "exclusiveMinimum": -DECIMAL_NUMBER_LIMIT, "exclusiveMaximum": DECIMAL_NUMBER_LIMIT},
        ]}),
        SqlType::String | SqlType::Text => json!({"type": "string"}),
        SqlType::Timestamp => json!({"type": "string", "format": "date-time"}),
        SqlType::Date => json!({"type": "string", "format": "date"}),
        SqlType::Json => json!({}),
        SqlType::Binary | SqlType::Duration => return None,
    })
}

/// The schema of a `$filter` over an endpoint's fields (recursive through `$and`/`$or`/`$not`).
fn filter_schema(e: &EndpointSchema) -> Json {
    let own = format!("#/components/schemas/{}", filter_name(&e.name));
    let mut properties = Map::new();
    for f in &e.fields {
        let Some(value) = filter_value_schema(f.ty) else {
            continue;
        };
        let nullable = json!({"anyOf": [value, {"type": "null"}]});
        let mut ops = Map::new();
        for op in ["$eq", "$ne"] {
            ops.insert(op.into(), nullable.clone());
        }
        if f.ty.is_orderable() {
            for op in ["$lt", "$lte", "$gt", "$gte"] {
                ops.insert(op.into(), value.clone());
            }
        }
        ops.insert("$in".into(), json!({"type": "array", "items": nullable}));
        if matches!(f.ty, SqlType::String | SqlType::Text) {
            ops.insert("$contains".into(), json!({"type": "string"}));
            for op in ["$matches_any", "$matches_all"] {
                ops.insert(
                    op.into(),
                    json!({"type": "array", "items": {"type": "string"}}),
                );
            }
        }
        let condition = json!({"type": "object", "properties": ops, "additionalProperties": false, "minProperties": 1});
        let mut either = vec![nullable, condition];
        if f.ty == SqlType::Json {
            // Any JSON is a value: an object is an operator object only by its keys.
            either.truncate(1);
        }
        properties.insert(f.name.clone(), json!({"anyOf": either}));
    }
    let list = json!({"type": "array", "items": {"$ref": own}});
    properties.insert("$and".into(), list.clone());
    properties.insert("$or".into(), list);
    properties.insert("$not".into(), json!({"$ref": own}));
    json!({"type": "object", "properties": properties, "additionalProperties": false})
}

fn filter_name(endpoint: &str) -> String {
    record_name(endpoint).replace("Record", "Filter")
}

fn query_schema(e: &EndpointSchema, max_limit: u64) -> Json {
    let sortable: Vec<&str> = e
        .fields
        .iter()
        .filter(|f| f.ty.is_orderable())
        .map(|f| f.name.as_str())
        .collect();
    json!({
        "type": "object",
        "properties": {
            "$filter": {"anyOf": [{"$ref": format!("#/components/schemas/{}", filter_name(&e.name))}, {"type": "null"}]},
            "$order_by": {"type": "object", "propertyNames": {"enum": sortable}, "additionalProperties": {"type": "string", "enum": ["asc", "desc"]}},
            "$limit": {"type": "integer", "minimum": 0, "maximum": max_limit},
            "$skip": {"type": "integer", "minimum": 0, "maximum": u64::MAX},
            "$after": {"type": "integer", "minimum": 0, "maximum": u64::MAX, "description": "a record id: the records after it, in the query's order"},
        },
        "additionalProperties": false,
        // A cursor pages by itself: with `$after`, `$skip` can only be 0.
        "dependentSchemas": {"$after": {"properties": {"$skip": {"const": 0}}}},
    })
}

/// A path item with one operation.
fn operation(
    method: &str,
    id: &str,
    summary: &str,
    body: Option<Json>,
    ok: Json,
    errors: &[u16],
) -> Json {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({"description": "OK", "content": {"application/json": {"schema": ok}}}),
    );
    for code in errors {
        let description = match code {
            400 => "The request is malformed; the message names the offending key.",
            404 => "No such record (for a query: the `$after` record).",
            422 => "The query would read too many records without an index; the message names the index to add.",
            _ => "Error",
        };
        responses.insert(
            code.to_string(),
            json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    let mut op = json!({"operationId": id, "summary": summary, "responses": responses});
    if let Some(schema) = body {
        // An empty body, or `null`, is the empty query.
        let schema = json!({"anyOf": [schema, {"type": "null"}]});
        op["requestBody"] =
            json!({"required": false, "content": {"application/json": {"schema": schema}}});
    }
    json!({ method: op })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::FieldDef;

    #[test]
    fn one_endpoint_document() {
        let e = EndpointSchema {
            name: "sales_by_country".into(),
            path: "/sales_by_country".into(),
            fields: vec![
                FieldDef::new("Country", SqlType::String, false),
                FieldDef::new("Total", SqlType::Decimal, true),
            ],
            primary_key: Some(vec![0]),
            indexes: vec![],
            cache_control: None,
        };
        let doc = document("shop", &[e], 10_000, Some(0));
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"].get("/").is_none());
        let record = &doc["components"]["schemas"]["SalesByCountryRecord"];
        assert_eq!(
            record["properties"]["Total"]["anyOf"][1],
            json!({"type": "null"})
        );
        let get = &doc["paths"]["/sales_by_country/{key}"]["get"];
        assert_eq!(get["parameters"][0]["schema"], json!({"type": "string"}));
        assert!(doc["paths"]["/sales_by_country/oapi"]["post"].is_object());
    }
}
