//! Deterministic generator of e-commerce sales rows in the shape of the classic "Online Retail"
//! data set: invoices of 1–12 lines, time-ordered, ~2% cancellations (`C` invoices with negative
//! quantities), ~20% of rows without a customer. Same seed and row count → same bytes.

use std::io::Write;
use std::path::Path;

pub use crate::rng::Rng;

const PRODUCTS: &[(&str, &str, u32)] = &[
    ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 255),
    ("71053", "WHITE METAL LANTERN", 339),
    ("84406B", "CREAM CUPID HEARTS COAT HANGER", 275),
    ("84029G", "KNITTED UNION FLAG HOT WATER BOTTLE", 339),
    ("84029E", "RED WOOLLY HOTTIE WHITE HEART.", 339),
    ("22752", "SET 7 BABUSHKA NESTING BOXES", 765),
    ("21730", "GLASS STAR FROSTED T-LIGHT HOLDER", 425),
    ("22633", "HAND WARMER UNION JACK", 185),
    ("22632", "HAND WARMER RED POLKA DOT", 185),
    ("84879", "ASSORTED COLOUR BIRD ORNAMENT", 169),
    ("22745", "POPPY'S PLAYHOUSE BEDROOM", 210),
    ("22748", "POPPY'S PLAYHOUSE KITCHEN", 210),
    ("22749", "FELTCRAFT PRINCESS CHARLOTTE DOLL", 375),
    ("22310", "IVORY KNITTED MUG COSY", 165),
    ("84969", "BOX OF 6 ASSORTED COLOUR TEASPOONS", 425),
    ("22623", "BOX OF VINTAGE JIGSAW BLOCKS", 495),
    ("22622", "BOX OF VINTAGE ALPHABET BLOCKS", 995),
    ("21754", "HOME BUILDING BLOCK WORD", 595),
    ("21755", "LOVE BUILDING BLOCK WORD", 595),
    ("21777", "RECIPE BOX WITH METAL HEART", 795),
    ("48187", "DOORMAT NEW ENGLAND", 795),
    ("22960", "JAM MAKING SET WITH JARS", 425),
    ("22913", "RED COAT RACK PARIS FASHION", 495),
    ("22912", "YELLOW COAT RACK PARIS FASHION", 495),
    ("22914", "BLUE COAT RACK PARIS FASHION", 495),
    ("21756", "BATH BUILDING BLOCK WORD", 595),
    ("22728", "ALARM CLOCK BAKELIKE PINK", 375),
    ("22727", "ALARM CLOCK BAKELIKE RED", 375),
    ("22726", "ALARM CLOCK BAKELIKE GREEN", 375),
    ("21724", "PANDA AND BUNNIES STICKER SHEET", 85),
    ("21883", "STARS GIFT TAPE", 65),
    ("10002", "INFLATABLE POLITICAL GLOBE", 85),
    ("21791", "VINTAGE HEADS AND TAILS CARD GAME", 125),
    ("21035", "SET/2 RED RETROSPOT TEA TOWELS", 295),
    ("22326", "ROUND SNACK BOXES SET OF4 WOODLAND", 295),
    ("22629", "SPACEBOY LUNCH BOX", 195),
    ("22659", "LUNCH BOX I LOVE LONDON", 195),
    ("22631", "CIRCUS PARADE LUNCH BOX", 195),
    ("22661", "CHARLOTTE BAG DOLLY GIRL DESIGN", 85),
    ("21731", "RED TOADSTOOL LED NIGHT LIGHT", 165),
];

pub const COUNTRIES: &[(&str, u32)] = &[
    ("United Kingdom", 80),
    ("Germany", 5),
    ("France", 4),
    ("EIRE", 3),
    ("Spain", 2),
    ("Netherlands", 2),
    ("Belgium", 1),
    ("Switzerland", 1),
    ("Portugal", 1),
    ("Australia", 1),
];

pub const HEADER: [&str; 8] = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
];

/// Writes `rows` rows (plus a header) as CSV.
pub fn write_sales(out: impl Write, rows: u64, seed: u64) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, out));
    w.write_record(HEADER)?;
    let mut rng = Rng::new(seed);
    let country_total: u32 = COUNTRIES.iter().map(|c| c.1).sum();
    let start = 1_291_191_960i64; // 2010-12-01 08:26:00 UTC
    let mut invoice = 536_365u64;
    let mut written = 0;
    let mut t = start;
    while written < rows {
        invoice += 1;
        t += 60 + rng.below(20 * 60) as i64;
        let lines = 1 + rng.below(12);
        let cancelled = rng.below(50) == 0;
        let customer = if rng.below(5) == 0 {
            None
        } else {
            Some(12_346 + rng.below(5_942))
        };
        let mut pick = rng.below(u64::from(country_total)) as u32;
        let country = COUNTRIES
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .map_or("United Kingdom", |c| c.0);
        let date = format_timestamp(t);
        for _ in 0..lines {
            if written == rows {
                break;
            }
            let (code, desc, cents) = PRODUCTS[rng.below(PRODUCTS.len() as u64) as usize];
            let mut qty = 1 + rng.below(24) as i64;
            if cancelled {
                qty = -qty;
            }
            let cents = cents + rng.below(3) as u32 * 10;
            let inv = if cancelled {
                format!("C{invoice}")
            } else {
                invoice.to_string()
            };
            let price = format!("{}.{:02}", cents / 100, cents % 100);
            let cust = customer.map(|c| c.to_string()).unwrap_or_default();
            w.write_record([
                inv.as_str(),
                code,
                desc,
                &qty.to_string(),
                &date,
                &price,
                &cust,
                country,
            ])?;
            written += 1;
        }
    }
    w.flush()?;
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS` for a UTC Unix time (civil-from-days, Howard Hinnant's algorithm).
fn format_timestamp(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn generate(rows: u64, seed: u64, out: &Path) -> std::io::Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = out.with_extension("csv.tmp");
    write_sales(std::fs::File::create(&tmp)?, rows, seed)?;
    std::fs::rename(&tmp, out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp(1_291_191_960), "2010-12-01 08:26:00");
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00");
    }

    #[test]
    fn deterministic() {
        let mut a = vec![];
        let mut b = vec![];
        write_sales(&mut a, 500, 7).unwrap();
        write_sales(&mut b, 500, 7).unwrap();
        assert_eq!(a, b);
        assert_eq!(String::from_utf8(a).unwrap().lines().count(), 501);
    }
}
