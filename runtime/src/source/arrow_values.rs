//! Arrow arrays as values, by what they are (any integer width is `Int`, any string layout
//! `String`, ...): the one conversion for Parquet files' record batches and the Arrow IPC
//! batches pushed to a `!Grpc` connection.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrowPrimitiveType};
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, NaiveDate};
use dozer_types::{Decimal, Value};

/// Appends each row's value of `array` to that row.
pub(crate) fn push_values(array: &dyn Array, rows: &mut [Vec<Value>]) -> Result<(), String> {
    fn each(array: &dyn Array, rows: &mut [Vec<Value>], value: impl Fn(usize) -> Value) {
        for (i, row) in rows.iter_mut().enumerate() {
            row.push(if array.is_null(i) {
                Value::Null
            } else {
                value(i)
            });
        }
    }
    fn primitive<T: ArrowPrimitiveType>(
        array: &dyn Array,
        rows: &mut [Vec<Value>],
        value: impl Fn(T::Native) -> Value,
    ) {
        let a = array.as_primitive::<T>();
        each(array, rows, |i| value(a.value(i)));
    }
    fn checked<T: ArrowPrimitiveType>(
        array: &dyn Array,
        rows: &mut [Vec<Value>],
        value: impl Fn(T::Native) -> Option<Value>,
        what: &str,
    ) -> Result<(), String> {
        let a = array.as_primitive::<T>();
        for (i, row) in rows.iter_mut().enumerate() {
            row.push(if a.is_null(i) {
                Value::Null
            } else {
                value(a.value(i))
                    .ok_or_else(|| format!("{:?} is out of range for {what}", a.value(i)))?
            });
        }
        Ok(())
    }
    let timestamp = |t: Option<DateTime<chrono::Utc>>| t.map(Value::Timestamp);
    match array.data_type() {
        DataType::Boolean => {
            let a = array.as_boolean();
            each(array, rows, |i| Value::Boolean(a.value(i)));
        }
        DataType::Int8 => primitive::<Int8Type>(array, rows, |v| Value::Int(v.into())),
        DataType::Int16 => primitive::<Int16Type>(array, rows, |v| Value::Int(v.into())),
        DataType::Int32 => primitive::<Int32Type>(array, rows, |v| Value::Int(v.into())),
        DataType::Int64 => primitive::<Int64Type>(array, rows, Value::Int),
        DataType::UInt8 => primitive::<UInt8Type>(array, rows, |v| Value::Int(v.into())),
        DataType::UInt16 => primitive::<UInt16Type>(array, rows, |v| Value::Int(v.into())),
        DataType::UInt32 => primitive::<UInt32Type>(array, rows, |v| Value::Int(v.into())),
        DataType::UInt64 => primitive::<UInt64Type>(array, rows, Value::UInt),
        DataType::Float32 => primitive::<Float32Type>(array, rows, |v| Value::Float(v.into())),
        DataType::Float64 => primitive::<Float64Type>(array, rows, Value::Float),
        DataType::Decimal128(_, scale) => {
            let scale = u32::try_from(*scale).map_err(|_| {
                format!("decimals with a negative scale ({scale}) are not supported yet")
            })?;
            checked::<Decimal128Type>(
                array,
                rows,
                |v| {
                    Decimal::try_from_i128_with_scale(v, scale)
                        .ok()
                        .map(Value::Decimal)
                },
                "a decimal (at most 28 digits)",
            )?;
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            each(array, rows, |i| Value::String(a.value(i).to_string()));
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            each(array, rows, |i| Value::String(a.value(i).to_string()));
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            each(array, rows, |i| Value::Binary(a.value(i).to_vec()));
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            each(array, rows, |i| Value::Binary(a.value(i).to_vec()));
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            each(array, rows, |i| Value::Binary(a.value(i).to_vec()));
        }
        DataType::Date32 => checked::<Date32Type>(
            array,
            rows,
            |days| {
                NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_DAYS)?)
                    .map(Value::Date)
            },
            "a date",
        )?,
        DataType::Date64 => checked::<Date64Type>(
            array,
            rows,
            |ms| DateTime::from_timestamp_millis(ms).map(|t| Value::Date(t.date_naive())),
            "a date",
        )?,
        DataType::Timestamp(unit, _) => match unit {
            TimeUnit::Second => checked::<TimestampSecondType>(
                array,
                rows,
                |s| timestamp(DateTime::from_timestamp(s, 0)),
                "a timestamp",
            )?,
            TimeUnit::Millisecond => checked::<TimestampMillisecondType>(
                array,
                rows,
                |ms| timestamp(DateTime::from_timestamp_millis(ms)),
                "a timestamp",
            )?,
            TimeUnit::Microsecond => checked::<TimestampMicrosecondType>(
                array,
                rows,
                |us| timestamp(DateTime::from_timestamp_micros(us)),
                "a timestamp",
            )?,
            TimeUnit::Nanosecond => checked::<TimestampNanosecondType>(
                array,
                rows,
                |ns| Some(Value::Timestamp(DateTime::from_timestamp_nanos(ns))),
                "a timestamp",
            )?,
        },
        other => return Err(format!("not supported yet: Parquet/arrow type {other}")),
    }
    Ok(())
}

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const UNIX_EPOCH_DAYS: i32 = 719_163;
