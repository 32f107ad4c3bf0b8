//! Tuples of the pgoutput stream as rows of the source's values, for the [mirror](super::super::mirror).

use dozer_types::{SqlType, Value};

use super::pgoutput::{Datum, OldRow, Tuple};
use super::text;
use crate::source::mirror::OldValues;

/// A tuple of the stream in the source's column order: `map[i]` is the stream column of source
/// column `i`. Text becomes values of the source's types.
pub fn values(
    tuple: &Tuple,
    map: &[usize],
    types: &[SqlType],
) -> Result<Vec<Option<Value>>, String> {
    map.iter()
        .zip(types)
        .map(|(&col, &ty)| match tuple.get(col) {
            Some(Datum::Null) => Ok(Some(Value::Null)),
            Some(Datum::Unchanged) | None => Ok(None),
            Some(Datum::Text(t)) => text::value(ty, t).map(Some),
        })
        .collect()
}

/// An old row of the stream in the source's column order.
pub fn old_values(old: &OldRow, map: &[usize], types: &[SqlType]) -> Result<OldValues, String> {
    Ok(match old {
        OldRow::Key(t) => OldValues::Key(values(t, map, types)?),
        OldRow::Full(t) => OldValues::Full(values(t, map, types)?),
    })
}
