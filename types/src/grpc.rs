//! The names of an endpoint's typed gRPC service. The compiler writes them into the `.proto` file
//! it emits and the runtime routes requests by them, so both take them from here.
//!
//! Endpoint names are free-form in the config; protobuf names are identifiers. An endpoint
//! `sales_by_country` gets package `dozer.generated.sales_by_country` and service
//! `SalesByCountry`, as in Dozer.

/// A protobuf identifier for a free-form name: `Unit Price` → `Unit_Price`, `1st` → `f_1st`.
pub fn identifier(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert_str(0, "f_");
    }
    out
}

/// `sales_by_country` → `SalesByCountry`: ASCII letters and digits, each word capitalised.
pub fn pascal(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(if upper { c.to_ascii_uppercase() } else { c });
            upper = false;
        } else {
            upper = true;
        }
    }
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert(0, 'E');
    }
    out
}

/// The package of an endpoint's typed service: `dozer.generated.<endpoint>`.
pub fn package(endpoint: &str) -> String {
    format!("dozer.generated.{}", identifier(endpoint))
}

/// The service's full name, as request paths carry it (`/<full name>/<method>`).
pub fn service(endpoint: &str) -> String {
    format!("{}.{}", package(endpoint), pascal(endpoint))
}

/// The methods of every typed service.
pub const METHODS: [&str; 3] = ["count", "query", "on_event"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_protobuf_identifiers() {
        assert_eq!(
            service("sales_by_country"),
            "dozer.generated.sales_by_country.SalesByCountry"
        );
        assert_eq!(identifier("Unit Price"), "Unit_Price");
        assert_eq!(identifier("1st"), "f_1st");
        assert_eq!(identifier("__dozer"), "__dozer");
        assert_eq!(pascal("trips-2024"), "Trips2024");
        assert_eq!(pascal("2024"), "E2024");
    }
}
