//! The aggregate functions: their SQL names, what their argument must be, their result type and
//! nullability, and the runtime operator state (`AggKind`) that maintains each incrementally.
//!
//! The binder types a call from here, code generation picks the runtime's aggregate from here.

use crate::sql::plan::AggregateFunction;
use crate::types::SqlType;

/// The aggregate a name calls (`COUNT(*)` and `COUNT(DISTINCT x)` are told apart by the binder).
pub fn lookup(name: &str) -> Option<AggregateFunction> {
    Some(match name {
        "count" => AggregateFunction::Count,
        "sum" => AggregateFunction::Sum,
        "avg" => AggregateFunction::Avg,
        "min" => AggregateFunction::Min,
        "max" => AggregateFunction::Max,
        _ => return None,
    })
}

/// Every name [`lookup`] knows, for suggestions.
pub const NAMES: &[&str] = &["count", "sum", "avg", "min", "max"];

/// What an aggregate's argument must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Any value (`COUNT`).
    Any,
    /// A number (`SUM`, `AVG`).
    Number,
    /// A value with an order: not JSON or binary (`MIN`, `MAX`).
    Ordered,
}

pub fn input(f: AggregateFunction) -> Input {
    use AggregateFunction as A;
    match f {
        A::CountStar | A::Count | A::CountDistinct => Input::Any,
        A::Sum | A::Avg => Input::Number,
        A::Min | A::Max => Input::Ordered,
    }
}

/// Whether values of `ty` may be an argument of the `input` kind.
pub fn accepts(input: Input, ty: SqlType) -> bool {
    match input {
        Input::Any => true,
        Input::Number => ty.is_numeric(),
        Input::Ordered => !matches!(ty, SqlType::Json | SqlType::Binary),
    }
}

/// The result type over an argument of type `arg` (`None` for `COUNT(*)`): counts are integers,
/// SUM keeps the argument's type (unsigned sums are signed), AVG of an exact number is a decimal.
pub fn result(f: AggregateFunction, arg: Option<SqlType>) -> SqlType {
    use AggregateFunction as A;
    let a = arg.unwrap_or(SqlType::Int);
    match f {
        A::CountStar | A::Count | A::CountDistinct => SqlType::Int,
        A::Sum if a == SqlType::UInt => SqlType::Int,
        A::Sum | A::Min | A::Max => a,
        A::Avg if a == SqlType::Float => SqlType::Float,
        A::Avg => SqlType::Decimal,
    }
}

/// Whether the result of a group can be NULL, given whether the argument can: a count never is,
/// the others are when every value of the group is NULL. (A global aggregate over no rows is NULL
/// too; the query binder adds that.)
pub fn nullable(f: AggregateFunction, arg_nullable: bool) -> bool {
    use AggregateFunction as A;
    match f {
        A::CountStar | A::Count | A::CountDistinct => false,
        A::Sum | A::Avg | A::Min | A::Max => arg_nullable,
    }
}

/// The runtime's aggregate state (`AggKind::<variant>`) for an argument of type `arg`.
pub fn runtime(f: AggregateFunction, arg: Option<SqlType>) -> &'static str {
    use AggregateFunction as A;
    match f {
        A::CountStar => "CountStar",
        A::Count => "Count",
        A::CountDistinct => "CountDistinct",
        A::Sum => match arg {
            Some(SqlType::Float) => "SumFloat",
            Some(SqlType::Decimal) => "SumDecimal",
            _ => "SumInt",
        },
        A::Avg => match arg {
            Some(SqlType::Float) => "AvgFloat",
            _ => "AvgDecimal",
        },
        A::Min => "Min",
        A::Max => "Max",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves_and_types_follow_postgres() {
        for name in NAMES {
            assert!(lookup(name).is_some(), "{name}");
        }
        assert_eq!(
            result(AggregateFunction::Avg, Some(SqlType::Int)),
            SqlType::Decimal
        );
        assert_eq!(
            result(AggregateFunction::Sum, Some(SqlType::UInt)),
            SqlType::Int
        );
        assert!(!accepts(Input::Ordered, SqlType::Json));
        assert!(!nullable(AggregateFunction::Count, true));
    }
}
