//! SQL semantics for generated expressions: arithmetic, casts and scalar functions over the typed
//! values of generated rows.
//!
//! dozerc compiles each expression to Rust over these functions; NULL propagation is done by the
//! generated code (it knows which values can be NULL), so everything here takes non-null values,
//! except the few SQL operators that are not strict (`AND`, `OR`, `IN`, `concat`). Errors that
//! PostgreSQL raises at run time (division by zero, integer overflow, a string that does not parse
//! as the target type) are [`OpError::Eval`] here too: the batch is not committed and the pipeline
//! stops with the message, instead of storing a made-up value.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};
use dozer_types::{Decimal, Value};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::RoundingStrategy;

use crate::error::OpError;
use crate::row::SqlValue;
use crate::source::fields::FromField;

fn eval(message: impl Into<String>) -> OpError {
    OpError::Eval(message.into())
}

fn out_of_range(what: &str) -> OpError {
    eval(format!("{what} out of range"))
}

fn division_by_zero() -> OpError {
    eval("division by zero")
}

// ---- arithmetic ------------------------------------------------------------------------------

/// `+ - * / %` and unary minus with PostgreSQL's errors: overflow and division by zero fail.
pub trait Arith: Sized {
    fn add(self, o: Self) -> Result<Self, OpError>;
    fn sub(self, o: Self) -> Result<Self, OpError>;
    fn mul(self, o: Self) -> Result<Self, OpError>;
    fn div(self, o: Self) -> Result<Self, OpError>;
    fn rem(self, o: Self) -> Result<Self, OpError>;
    fn neg(self) -> Result<Self, OpError>;
}

macro_rules! checked_arith {
    ($t:ty, $name:literal, $neg:expr) => {
        impl Arith for $t {
            fn add(self, o: Self) -> Result<Self, OpError> {
                self.checked_add(o).ok_or_else(|| out_of_range($name))
            }
            fn sub(self, o: Self) -> Result<Self, OpError> {
                self.checked_sub(o).ok_or_else(|| out_of_range($name))
            }
            fn mul(self, o: Self) -> Result<Self, OpError> {
                self.checked_mul(o).ok_or_else(|| out_of_range($name))
            }
            fn div(self, o: Self) -> Result<Self, OpError> {
                if o == <$t>::default() {
                    return Err(division_by_zero());
                }
                self.checked_div(o).ok_or_else(|| out_of_range($name))
            }
            fn rem(self, o: Self) -> Result<Self, OpError> {
                if o == <$t>::default() {
                    return Err(division_by_zero());
                }
                self.checked_rem(o).ok_or_else(|| out_of_range($name))
            }
            fn neg(self) -> Result<Self, OpError> {
                let f: fn($t) -> Option<$t> = $neg;
                f(self).ok_or_else(|| out_of_range($name))
            }
        }
    };
}

checked_arith!(i64, "integer", |v: i64| v.checked_neg());
checked_arith!(u64, "unsigned integer", |v: u64| if v == 0 {
    Some(0)
} else {
    None
});
checked_arith!(Decimal, "decimal", |v: Decimal| Some(-v));

impl Arith for f64 {
    fn add(self, o: Self) -> Result<Self, OpError> {
        Ok(self + o)
    }
    fn sub(self, o: Self) -> Result<Self, OpError> {
        Ok(self - o)
    }
    fn mul(self, o: Self) -> Result<Self, OpError> {
        Ok(self * o)
    }
    fn div(self, o: Self) -> Result<Self, OpError> {
        if o == 0.0 {
            return Err(division_by_zero());
        }
        Ok(self / o)
    }
    fn rem(self, o: Self) -> Result<Self, OpError> {
        if o == 0.0 {
            return Err(division_by_zero());
        }
        Ok(self % o)
    }
    fn neg(self) -> Result<Self, OpError> {
        Ok(-self)
    }
}

// ---- casts -------------------------------------------------------------------------------------

/// Conversions between the numeric types (`CAST` and implicit widening). To integers, decimals
/// round half away from zero and floats half to even, as PostgreSQL does.
pub trait Numeric: Copy {
    fn to_i64(self) -> Result<i64, OpError>;
    fn to_u64(self) -> Result<u64, OpError>;
    fn to_f64(self) -> Result<f64, OpError>;
    fn to_decimal(self) -> Result<Decimal, OpError>;
}

impl Numeric for i64 {
    fn to_i64(self) -> Result<i64, OpError> {
        Ok(self)
    }
    fn to_u64(self) -> Result<u64, OpError> {
        u64::try_from(self).map_err(|_| out_of_range("unsigned integer"))
    }
    fn to_f64(self) -> Result<f64, OpError> {
        Ok(self as f64)
    }
    fn to_decimal(self) -> Result<Decimal, OpError> {
        Ok(Decimal::from(self))
    }
}

impl Numeric for u64 {
    fn to_i64(self) -> Result<i64, OpError> {
        i64::try_from(self).map_err(|_| out_of_range("integer"))
    }
    fn to_u64(self) -> Result<u64, OpError> {
        Ok(self)
    }
    fn to_f64(self) -> Result<f64, OpError> {
        Ok(self as f64)
    }
    fn to_decimal(self) -> Result<Decimal, OpError> {
        Ok(Decimal::from(self))
    }
}

impl Numeric for f64 {
    fn to_i64(self) -> Result<i64, OpError> {
        let r = self.round_ties_even();
        if r.is_finite() && r >= i64::MIN as f64 && r < i64::MAX as f64 {
            Ok(r as i64)
        } else {
            Err(out_of_range("integer"))
        }
    }
    fn to_u64(self) -> Result<u64, OpError> {
        let r = self.round_ties_even();
        if r.is_finite() && r >= 0.0 && r < u64::MAX as f64 {
            Ok(r as u64)
        } else {
            Err(out_of_range("unsigned integer"))
        }
    }
    fn to_f64(self) -> Result<f64, OpError> {
        Ok(self)
    }
    fn to_decimal(self) -> Result<Decimal, OpError> {
        Decimal::from_f64(self).ok_or_else(|| out_of_range("decimal"))
    }
}

impl Numeric for Decimal {
    fn to_i64(self) -> Result<i64, OpError> {
        ToPrimitive::to_i64(&self.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero))
            .ok_or_else(|| out_of_range("integer"))
    }
    fn to_u64(self) -> Result<u64, OpError> {
        ToPrimitive::to_u64(&self.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero))
            .ok_or_else(|| out_of_range("unsigned integer"))
    }
    fn to_f64(self) -> Result<f64, OpError> {
        ToPrimitive::to_f64(&self).ok_or_else(|| out_of_range("float"))
    }
    fn to_decimal(self) -> Result<Decimal, OpError> {
        Ok(self)
    }
}

pub fn to_i64(v: impl Numeric) -> Result<i64, OpError> {
    v.to_i64()
}

pub fn to_u64(v: impl Numeric) -> Result<u64, OpError> {
    v.to_u64()
}

pub fn to_f64(v: impl Numeric) -> Result<f64, OpError> {
    v.to_f64()
}

pub fn to_decimal(v: impl Numeric) -> Result<Decimal, OpError> {
    v.to_decimal()
}

pub fn bool_to_int(v: bool) -> i64 {
    i64::from(v)
}

pub fn int_to_bool(v: i64) -> bool {
    v != 0
}

/// The text form of a value (`CAST(x AS text)`, `||`, `concat`), as PostgreSQL prints it.
pub trait ToText {
    fn to_text(self) -> String;
}

macro_rules! to_text_display {
    ($($t:ty),*) => {
        $(impl ToText for $t {
            fn to_text(self) -> String {
                self.to_string()
            }
        })*
    };
}

to_text_display!(i64, u64, f64, Decimal, String, bool);

/// PostgreSQL's text form of a `timestamptz` in UTC: microseconds, without trailing zeros.
impl ToText for DateTime<Utc> {
    fn to_text(self) -> String {
        let micros = self.timestamp_subsec_micros();
        let fraction = if micros == 0 {
            String::new()
        } else {
            format!(".{micros:06}").trim_end_matches('0').to_string()
        };
        format!("{}{fraction}+00", self.format("%Y-%m-%d %H:%M:%S"))
    }
}

impl ToText for NaiveDate {
    fn to_text(self) -> String {
        self.format("%Y-%m-%d").to_string()
    }
}

impl ToText for serde_json::Value {
    fn to_text(self) -> String {
        self.to_string()
    }
}

impl ToText for Vec<u8> {
    fn to_text(self) -> String {
        let mut s = String::with_capacity(2 + 2 * self.len());
        s.push_str("\\x");
        for b in self {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

pub fn to_text(v: impl ToText) -> String {
    v.to_text()
}

/// `CAST(text AS T)`: the grammar source files are read with.
pub fn parse_text<T: FromField>(s: String) -> Result<T, OpError> {
    T::from_text(s.trim()).map_err(|e| eval(e.message))
}

pub fn to_json<T: SqlValue>(v: T) -> serde_json::Value {
    match v.into_value() {
        Value::Json(j) => j,
        other => other.to_json(),
    }
}

pub fn from_json<T: FromField>(j: serde_json::Value) -> Result<T, OpError> {
    T::from_json(&j).map_err(|e| eval(e.message))
}

/// A point in time, for the date/time functions and windows.
pub trait Temporal: Copy {
    fn to_timestamp(self) -> DateTime<Utc>;
}

impl Temporal for DateTime<Utc> {
    fn to_timestamp(self) -> DateTime<Utc> {
        self
    }
}

impl Temporal for NaiveDate {
    fn to_timestamp(self) -> DateTime<Utc> {
        self.and_time(chrono::NaiveTime::MIN).and_utc()
    }
}

pub fn to_timestamp(v: impl Temporal) -> DateTime<Utc> {
    v.to_timestamp()
}

pub fn to_date(v: DateTime<Utc>) -> NaiveDate {
    v.date_naive()
}

/// Microseconds since the Unix epoch (window and TTL arithmetic).
pub fn micros(v: impl Temporal) -> i64 {
    v.to_timestamp().timestamp_micros()
}

pub fn from_micros(us: i64) -> Result<DateTime<Utc>, OpError> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| out_of_range("timestamp"))
}

/// A timestamp literal, as dozerc folded it (microseconds since the epoch).
pub fn timestamp_literal(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// A date literal, as dozerc folded it (days since 0001-01-01 = day 1).
pub fn date_literal(days_from_ce: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days_from_ce).unwrap_or_default()
}

// ---- logic -------------------------------------------------------------------------------------

/// Three-valued AND.
pub fn and(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

/// Three-valued OR.
pub fn or(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

/// `x IN (list)`: true if some element equals `x`; else NULL if `x` or an element is NULL.
pub fn in_list<T: PartialEq>(x: Option<T>, list: Vec<Option<T>>) -> Option<bool> {
    let x = x?;
    let mut saw_null = false;
    for v in list {
        match v {
            Some(v) if v == x => return Some(true),
            Some(_) => {}
            None => saw_null = true,
        }
    }
    if saw_null {
        None
    } else {
        Some(false)
    }
}

// ---- string functions ------------------------------------------------------------------------

pub fn lower(s: String) -> String {
    s.to_lowercase()
}

pub fn upper(s: String) -> String {
    s.to_uppercase()
}

/// Characters, not bytes.
pub fn length(s: String) -> i64 {
    s.chars().count() as i64
}

/// `concat(...)`: NULLs are skipped.
pub fn concat(parts: Vec<Option<String>>) -> String {
    parts.into_iter().flatten().collect()
}

/// `substring(s FROM start [FOR count])`, 1-based; a start before 1 shortens the count, as in
/// PostgreSQL.
pub fn substring(s: String, start: i64, count: Option<i64>) -> Result<String, OpError> {
    let end = match count {
        Some(c) if c < 0 => return Err(eval("negative substring length not allowed")),
        Some(c) => Some(start.saturating_add(c)),
        None => None,
    };
    let from = start.max(1);
    Ok(s.chars()
        .enumerate()
        .map(|(i, ch)| (i as i64 + 1, ch))
        .filter(|(pos, _)| *pos >= from && end.is_none_or(|e| *pos < e))
        .map(|(_, ch)| ch)
        .collect())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimWhere {
    Both,
    Leading,
    Trailing,
}

pub fn trim(s: String, chars: Option<String>, place: TrimWhere) -> String {
    let set: Vec<char> = chars.map_or(vec![' '], |c| c.chars().collect());
    let strip = |c: char| set.contains(&c);
    match place {
        TrimWhere::Both => s.trim_matches(strip).to_string(),
        TrimWhere::Leading => s.trim_start_matches(strip).to_string(),
        TrimWhere::Trailing => s.trim_end_matches(strip).to_string(),
    }
}

pub fn replace(s: String, from: String, to: String) -> String {
    if from.is_empty() {
        s
    } else {
        s.replace(&from, &to)
    }
}

/// `s LIKE pattern` (`%` any run, `_` one character, `\` escapes), optionally case-insensitive.
pub fn like(s: String, pattern: String, case_insensitive: bool) -> bool {
    let (s, pattern) = if case_insensitive {
        (s.to_lowercase(), pattern.to_lowercase())
    } else {
        (s, pattern)
    };
    let s: Vec<char> = s.chars().collect();
    let mut p = vec![];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        p.push(match c {
            '\\' => Pat::Char(chars.next().unwrap_or('\\')),
            '%' => Pat::Any,
            '_' => Pat::One,
            c => Pat::Char(c),
        });
    }
    matches(&s, &p)
}

#[derive(Clone, Copy)]
enum Pat {
    Char(char),
    One,
    Any,
}

/// Wildcard matching with backtracking to the last `%` only: linear in practice.
fn matches(s: &[char], p: &[Pat]) -> bool {
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match p.get(j) {
            Some(Pat::Any) => {
                star = Some((j, i));
                j += 1;
            }
            Some(Pat::One) => {
                i += 1;
                j += 1;
            }
            Some(Pat::Char(c)) if *c == s[i] => {
                i += 1;
                j += 1;
            }
            _ => match star {
                Some((sj, si)) => {
                    j = sj + 1;
                    i = si + 1;
                    star = Some((sj, si + 1));
                }
                None => return false,
            },
        }
    }
    p[j..].iter().all(|x| matches!(x, Pat::Any))
}

// ---- numeric functions -----------------------------------------------------------------------

pub trait Rounding: Sized {
    fn abs(self) -> Result<Self, OpError>;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    /// Rounds to `digits` after the point (negative: before it), half away from zero (floats:
    /// half to even, as PostgreSQL's `round(double precision)`).
    fn round(self, digits: i64) -> Result<Self, OpError>;
}

impl Rounding for i64 {
    fn abs(self) -> Result<Self, OpError> {
        self.checked_abs().ok_or_else(|| out_of_range("integer"))
    }
    fn floor(self) -> Self {
        self
    }
    fn ceil(self) -> Self {
        self
    }
    fn round(self, digits: i64) -> Result<Self, OpError> {
        if digits >= 0 {
            return Ok(self);
        }
        let d = Decimal::from(self);
        let r = Rounding::round(d, digits)?;
        ToPrimitive::to_i64(&r).ok_or_else(|| out_of_range("integer"))
    }
}

impl Rounding for u64 {
    fn abs(self) -> Result<Self, OpError> {
        Ok(self)
    }
    fn floor(self) -> Self {
        self
    }
    fn ceil(self) -> Self {
        self
    }
    fn round(self, digits: i64) -> Result<Self, OpError> {
        if digits >= 0 {
            return Ok(self);
        }
        let r = Rounding::round(Decimal::from(self), digits)?;
        ToPrimitive::to_u64(&r).ok_or_else(|| out_of_range("unsigned integer"))
    }
}

impl Rounding for f64 {
    fn abs(self) -> Result<Self, OpError> {
        Ok(f64::abs(self))
    }
    fn floor(self) -> Self {
        f64::floor(self)
    }
    fn ceil(self) -> Self {
        f64::ceil(self)
    }
    fn round(self, digits: i64) -> Result<Self, OpError> {
        let scale = 10f64.powi(digits.clamp(-308, 308) as i32);
        Ok((self * scale).round_ties_even() / scale)
    }
}

impl Rounding for Decimal {
    fn abs(self) -> Result<Self, OpError> {
        Ok(Decimal::abs(&self))
    }
    fn floor(self) -> Self {
        Decimal::floor(&self)
    }
    fn ceil(self) -> Self {
        Decimal::ceil(&self)
    }
    fn round(self, digits: i64) -> Result<Self, OpError> {
        if digits >= 0 {
            let dp = u32::try_from(digits.min(28)).unwrap_or(28);
            return Ok(self.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero));
        }
        let scale =
            Decimal::from_i128_with_scale(10i128.pow(digits.unsigned_abs().min(28) as u32), 0);
        let shifted = self
            .checked_div(scale)
            .ok_or_else(|| out_of_range("decimal"))?;
        shifted
            .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
            .checked_mul(scale)
            .ok_or_else(|| out_of_range("decimal"))
    }
}

pub fn abs<T: Rounding>(v: T) -> Result<T, OpError> {
    v.abs()
}

pub fn floor<T: Rounding>(v: T) -> T {
    v.floor()
}

pub fn ceil<T: Rounding>(v: T) -> T {
    v.ceil()
}

pub fn round<T: Rounding>(v: T, digits: i64) -> Result<T, OpError> {
    v.round(digits)
}

pub fn power(base: f64, exp: f64) -> Result<f64, OpError> {
    let r = base.powf(exp);
    if r.is_nan() && !base.is_nan() && !exp.is_nan() {
        return Err(eval(
            "a negative number raised to a non-integer power yields a complex result",
        ));
    }
    Ok(r)
}

pub fn sqrt(v: f64) -> Result<f64, OpError> {
    if v < 0.0 {
        return Err(eval("cannot take square root of a negative number"));
    }
    Ok(v.sqrt())
}

/// The natural logarithm, with PostgreSQL's errors for zero and negative numbers.
pub fn ln(v: f64) -> Result<f64, OpError> {
    if v == 0.0 {
        return Err(eval("cannot take logarithm of zero"));
    }
    if v < 0.0 {
        return Err(eval("cannot take logarithm of a negative number"));
    }
    Ok(v.ln())
}

// ---- date/time functions -----------------------------------------------------------------------

pub fn now() -> DateTime<Utc> {
    Utc::now()
}

pub use dozer_types::DatePart;

/// `EXTRACT(part FROM t)` for the integer parts (everything but `second` and `epoch`).
pub fn extract_int(part: DatePart, t: impl Temporal) -> i64 {
    let t = t.to_timestamp();
    match part {
        DatePart::Year => i64::from(t.year()),
        DatePart::Quarter => i64::from(t.month0() / 3 + 1),
        DatePart::Month => i64::from(t.month()),
        DatePart::Week => i64::from(t.iso_week().week()),
        DatePart::Day => i64::from(t.day()),
        DatePart::DayOfWeek => i64::from(t.weekday().num_days_from_sunday()),
        DatePart::DayOfYear => i64::from(t.ordinal()),
        DatePart::Hour => i64::from(t.hour()),
        DatePart::Minute => i64::from(t.minute()),
        DatePart::Millisecond => {
            i64::from(t.second()) * 1000 + i64::from(t.timestamp_subsec_micros()) / 1000
        }
        DatePart::Second | DatePart::Epoch => {
            ToPrimitive::to_i64(&extract_decimal(part, t).trunc()).unwrap_or_default()
        }
    }
}

/// `EXTRACT(second|epoch FROM t)`: exact, with the fraction.
pub fn extract_decimal(part: DatePart, t: impl Temporal) -> Decimal {
    let t = t.to_timestamp();
    match part {
        DatePart::Second => Decimal::new(
            i64::from(t.second()) * 1_000_000 + i64::from(t.timestamp_subsec_micros()),
            6,
        )
        .normalize(),
        DatePart::Epoch => Decimal::new(t.timestamp_micros(), 6).normalize(),
        other => Decimal::from(extract_int(other, t)),
    }
}

/// `date_part('part', t)`: like EXTRACT, as a float.
pub fn date_part(part: DatePart, t: impl Temporal) -> f64 {
    ToPrimitive::to_f64(&extract_decimal(part, t)).unwrap_or_default()
}

/// `date_trunc('part', t)`.
pub fn date_trunc(part: DatePart, t: DateTime<Utc>) -> Result<DateTime<Utc>, OpError> {
    let d = t.date_naive();
    let start_of = |date: NaiveDate| Ok(date.and_time(chrono::NaiveTime::MIN).and_utc());
    let us = t.timestamp_micros();
    let floor = |unit: i64| from_micros(us.div_euclid(unit) * unit);
    match part {
        DatePart::Year => start_of(d.with_ordinal(1).unwrap_or(d)),
        DatePart::Quarter => {
            start_of(NaiveDate::from_ymd_opt(d.year(), d.month0() / 3 * 3 + 1, 1).unwrap_or(d))
        }
        DatePart::Month => start_of(d.with_day(1).unwrap_or(d)),
        DatePart::Week => {
            start_of(d - TimeDelta::days(i64::from(d.weekday().num_days_from_monday())))
        }
        DatePart::Day | DatePart::DayOfWeek | DatePart::DayOfYear => start_of(d),
        DatePart::Hour => floor(3_600_000_000),
        DatePart::Minute => floor(60_000_000),
        DatePart::Second => floor(1_000_000),
        DatePart::Millisecond => floor(1_000),
        DatePart::Epoch => Err(eval("date_trunc does not take `epoch`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        let l = |s: &str, p: &str| like(s.into(), p.into(), false);
        assert!(l("hello", "h%o"));
        assert!(l("hello", "_ello"));
        assert!(!l("hello", "h_o"));
        assert!(l("50%", "50\\%"));
        assert!(!l("500", "50\\%"));
        assert!(l("abcabc", "%bc"));
        assert!(like("ABC".into(), "a%".into(), true));
    }

    #[test]
    fn substring_follows_postgres() {
        assert_eq!(substring("hello".into(), 2, Some(3)).unwrap(), "ell");
        assert_eq!(substring("hello".into(), 0, Some(3)).unwrap(), "he");
        assert_eq!(substring("hello".into(), 3, None).unwrap(), "llo");
        assert!(substring("hello".into(), 1, Some(-1)).is_err());
    }

    #[test]
    fn errors_instead_of_wrong_values() {
        assert!(Arith::div(1i64, 0).is_err());
        assert!(Arith::add(i64::MAX, 1).is_err());
        assert!(Arith::neg(i64::MIN).is_err());
        assert!(parse_text::<i64>("x".into()).is_err());
        assert_eq!(parse_text::<i64>(" 42 ".into()).unwrap(), 42);
    }

    #[test]
    fn rounding() {
        assert_eq!(to_i64(Decimal::new(25, 1)).unwrap(), 3);
        assert_eq!(to_i64(2.5f64).unwrap(), 2);
        assert_eq!(
            round(Decimal::new(12345, 2), 1).unwrap(),
            Decimal::new(1235, 1)
        );
        assert_eq!(round(1250i64, -2).unwrap(), 1300);
    }

    #[test]
    fn three_valued_logic() {
        assert_eq!(and(None, Some(false)), Some(false));
        assert_eq!(or(None, Some(false)), None);
        assert_eq!(in_list(Some(1), vec![Some(2), None]), None);
        assert_eq!(in_list(Some(1), vec![Some(1), None]), Some(true));
    }

    #[test]
    fn date_parts() {
        let t = DateTime::parse_from_rfc3339("2024-05-17T13:45:30.250Z")
            .unwrap()
            .to_utc();
        assert_eq!(extract_int(DatePart::Quarter, t), 2);
        assert_eq!(extract_int(DatePart::DayOfWeek, t), 5);
        assert_eq!(extract_decimal(DatePart::Second, t), Decimal::new(3025, 2));
        assert_eq!(
            date_trunc(DatePart::Month, t).unwrap().to_rfc3339(),
            "2024-05-01T00:00:00+00:00"
        );
    }
}
