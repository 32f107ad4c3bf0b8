//! Where records begin and end in text files: CSV records and JSON lines, as the compiler's schema
//! inference samples them and the runtime ingests them.
//!
//! Both sides scan with these types, so a sample can never split a file differently from the app
//! that reads it. Files come from many writers, and every one of their conventions is a record
//! boundary here, as Python's `csv` module and universal newlines read them:
//!
//! - a line break is `\n`, `\r\n` or a lone `\r` (old Mac), mixed freely within a file; each
//!   counts as one line, so line numbers in messages match what an editor shows;
//! - a UTF-8 byte order mark at the start of a file (Excel's "CSV UTF-8") is not part of the
//!   first record;
//! - blank lines between records are skipped (CSV quoting keeps line breaks inside quoted fields);
//! - the last record of a file may lack a line break.
//!
//! A scanner reads a window of a file that may still be growing. It knows whether more bytes can
//! follow (`last`): while they can, a record that runs to the end of the window is
//! [`Scan::Incomplete`] — its writer may not have finished it — and so is one that ends in `\r`
//! there, which may be the first half of `\r\n`. Only with `last` is the end of the window the end
//! of the record.

/// The UTF-8 byte order mark.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Bytes of a UTF-8 byte order mark at the start of `bytes`: 3 or 0.
pub fn bom_len(bytes: &[u8]) -> usize {
    if bytes.starts_with(UTF8_BOM) {
        UTF8_BOM.len()
    } else {
        0
    }
}

fn is_break(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// The line breaks in `bytes`: `\r\n`, `\n` and a lone `\r` count once each.
pub fn line_breaks(bytes: &[u8]) -> u64 {
    let mut n = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => n += 1,
            b'\r' => {
                n += 1;
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    n
}

/// Skips blank lines from `pos`: the offset of the next byte that is not a line break. A `\r` at
/// the very end stays unless `last`: a `\n` may still follow it.
fn skip_breaks(bytes: &[u8], pos: usize, last: bool) -> usize {
    let mut i = pos;
    while i < bytes.len() && is_break(bytes[i]) {
        i += 1;
    }
    if i == bytes.len() && i > pos && !last && bytes[i - 1] == b'\r' {
        i -= 1;
    }
    i
}

/// The end of a record whose terminator the parser stopped at, `\r\n` taken whole; `None` when
/// the window ends in its `\r` and more bytes may follow.
fn after_terminator(bytes: &[u8], end: usize, last: bool) -> Option<usize> {
    if end == 0 || bytes[end - 1] != b'\r' {
        return Some(end);
    }
    match bytes.get(end) {
        Some(b'\n') => Some(end + 1),
        Some(_) => Some(end),
        None if last => Some(end),
        None => None,
    }
}

/// What a scanner found next.
#[derive(Debug)]
pub enum Scan<R> {
    Record(R),
    /// A record starts here but does not end within the window (and more bytes may follow).
    Incomplete,
    /// Nothing but line breaks is left in the window.
    End,
}

/// One CSV record of a window: its fields and where it was.
#[derive(Debug)]
pub struct CsvRecord<'s> {
    /// 1-based line of the record's first byte.
    pub line: u64,
    /// Whether a line break ends it (else it ran to the end of a final window).
    pub terminated: bool,
    fields: &'s [u8],
    ends: &'s [usize],
}

impl<'s> CsvRecord<'s> {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i`, unquoted.
    pub fn get(&self, i: usize) -> Option<&'s [u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.fields[start..end])
    }

    pub fn iter(&self) -> impl Iterator<Item = &'s [u8]> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The record as a header: each field's text, trimmed (bytes that are not UTF-8 shown as
    /// U+FFFD, so they name no column).
    pub fn header_names(&self) -> Vec<String> {
        self.iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect()
    }

    /// The bytes of all fields, back to back (`ends` splits them).
    pub fn field_bytes(&self) -> usize {
        self.fields.len()
    }
}

/// CSV records of a window of a file (RFC 4180 quoting with `"` and doubled quotes, as Python's
/// `csv` module and the `csv` crate read it).
pub struct CsvScanner<'a> {
    bytes: &'a [u8],
    last: bool,
    pos: usize,
    line: u64,
    delimiter: u8,
    core: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
}

/// A CSV parser at the start of a record. csv-core drops a byte order mark from the first input
/// it ever sees, but a window may start in the middle of a file, where those bytes are data: it is
/// primed with a blank line. (Byte order marks are the caller's, with [`bom_len`].)
fn csv_core_at_record_start(delimiter: u8) -> csv_core::Reader {
    let mut core = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let _ = core.read_record(b"\n", &mut [0u8; 1], &mut [0usize; 1]);
    core
}

impl<'a> CsvScanner<'a> {
    /// Scans `bytes`, a window that starts at a record boundary on line `line`; `last` when no
    /// byte can follow them.
    pub fn new(bytes: &'a [u8], last: bool, line: u64, delimiter: u8) -> Self {
        CsvScanner {
            bytes,
            last,
            pos: 0,
            line,
            delimiter,
            core: csv_core_at_record_start(delimiter),
            out: vec![0; 1024],
            ends: vec![0; 32],
        }
    }

    /// Bytes consumed (whole records and blank lines) and the line number there.
    pub fn consumed(&self) -> (usize, u64) {
        (self.pos, self.line)
    }

    /// The next record, if one is complete in the window.
    pub fn next_record(&mut self) -> Scan<CsvRecord<'_>> {
        use csv_core::ReadRecordResult as R;
        let first = skip_breaks(self.bytes, self.pos, self.last);
        self.line += line_breaks(&self.bytes[self.pos..first]);
        self.pos = first;
        if first == self.bytes.len() {
            return Scan::End;
        }
        if first + 1 == self.bytes.len() && self.bytes[first] == b'\r' {
            return Scan::Incomplete; // a `\r` kept back: `\n` may follow
        }
        let (mut nin, mut nout, mut nend) = (0, 0, 0);
        let mut ended_by_data = false;
        loop {
            let (res, i, o, e) = self.core.read_record(
                &self.bytes[first + nin..],
                &mut self.out[nout..],
                &mut self.ends[nend..],
            );
            nin += i;
            nout += o;
            nend += e;
            match res {
                R::Record | R::End => break,
                R::OutputFull => self.out.resize(self.out.len() * 2, 0),
                R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                R::InputEmpty if first + nin < self.bytes.len() => {}
                R::InputEmpty if !self.last => {
                    // The record runs to the end of the window: its writer may not be done.
                    self.core = csv_core_at_record_start(self.delimiter);
                    return Scan::Incomplete;
                }
                R::InputEmpty => {
                    // The end of the data ends the record (the parser's final transition).
                    ended_by_data = true;
                    loop {
                        let (res, _, o, e) = self.core.read_record(
                            &[],
                            &mut self.out[nout..],
                            &mut self.ends[nend..],
                        );
                        nout += o;
                        nend += e;
                        match res {
                            R::OutputFull => self.out.resize(self.out.len() * 2, 0),
                            R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                            _ => break,
                        }
                    }
                    break;
                }
            }
        }
        let raw_end = first + nin;
        let Some(end) = after_terminator(self.bytes, raw_end, self.last) else {
            self.core = csv_core_at_record_start(self.delimiter);
            return Scan::Incomplete;
        };
        let line = self.line;
        self.line += line_breaks(&self.bytes[first..end]);
        self.pos = end;
        Scan::Record(CsvRecord {
            line,
            terminated: !ended_by_data,
            fields: &self.out[..nout],
            ends: &self.ends[..nend],
        })
    }
}

/// One line of a window (without its line break).
#[derive(Debug)]
pub struct Line<'a> {
    /// 1-based line number.
    pub line: u64,
    pub text: &'a [u8],
    /// Whether a line break ends it (else it ran to the end of a final window).
    pub terminated: bool,
}

/// The lines of a window of a file (JSON lines), blank ones included.
pub struct LineScanner<'a> {
    bytes: &'a [u8],
    last: bool,
    pos: usize,
    line: u64,
}

impl<'a> LineScanner<'a> {
    /// Scans `bytes`, a window that starts at a line boundary on line `line`; `last` when no
    /// byte can follow them.
    pub fn new(bytes: &'a [u8], last: bool, line: u64) -> Self {
        LineScanner {
            bytes,
            last,
            pos: 0,
            line,
        }
    }

    /// Bytes consumed (whole lines) and the line number there.
    pub fn consumed(&self) -> (usize, u64) {
        (self.pos, self.line)
    }

    pub fn next_line(&mut self) -> Scan<Line<'a>> {
        let rest = &self.bytes[self.pos..];
        if rest.is_empty() {
            return Scan::End;
        }
        let (text_end, end, terminated) = match rest.iter().position(|&b| is_break(b)) {
            Some(i) => match after_terminator(rest, i + 1, self.last) {
                Some(end) => (i, end, true),
                None => return Scan::Incomplete,
            },
            None if self.last => (rest.len(), rest.len(), false),
            None => return Scan::Incomplete,
        };
        let line = Line {
            line: self.line,
            text: &rest[..text_end],
            terminated,
        };
        self.pos += end;
        self.line += 1;
        Scan::Record(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as (line, terminated, fields).
    type Rec = (u64, bool, Vec<String>);

    /// Every record of `text`, whether one is incomplete at the end, and what was consumed.
    fn csv(text: &str, last: bool) -> (Vec<Rec>, bool, (usize, u64)) {
        let mut s = CsvScanner::new(text.as_bytes(), last, 1, b',');
        let mut out = vec![];
        let incomplete = loop {
            match s.next_record() {
                Scan::Record(r) => out.push((
                    r.line,
                    r.terminated,
                    r.iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect(),
                )),
                Scan::Incomplete => break true,
                Scan::End => break false,
            }
        };
        (out, incomplete, s.consumed())
    }

    fn rec(line: u64, fields: &[&str]) -> Rec {
        (line, true, fields.iter().map(|f| f.to_string()).collect())
    }

    #[test]
    fn every_line_break_convention_is_one_line() {
        for eol in ["\n", "\r\n", "\r"] {
            let text = format!("a,b{eol}1,x{eol}{eol}2,y{eol}");
            let (records, incomplete, consumed) = csv(&text, false);
            let mut all = vec![
                rec(1, &["a", "b"]),
                rec(2, &["1", "x"]),
                rec(4, &["2", "y"]),
            ];
            // A final `\r` may be the first half of `\r\n`: its record waits unless the data is
            // final.
            if eol == "\r" {
                all.pop();
                assert_eq!(consumed, (text.len() - 4, 4));
            } else {
                assert_eq!(consumed, (text.len(), 5), "{eol:?}");
            }
            assert_eq!(records, all, "{eol:?}");
            assert_eq!(incomplete, eol == "\r", "{eol:?}");
            let (_, incomplete, consumed) = csv(&text, true);
            assert!(!incomplete);
            assert_eq!(consumed, (text.len(), 5), "{eol:?}");
        }
        assert_eq!(line_breaks(b"a\r\nb\rc\nd\n\r"), 5);
        let (records, _, consumed) = csv("a\r\nb\rc\n\rd", true);
        assert_eq!(records.len(), 4);
        assert_eq!(records[3].0, 5);
        assert_eq!(consumed, (9, 5));
    }

    #[test]
    fn quoted_line_breaks_stay_in_their_field_and_count_as_lines() {
        let text = "a,b\r\n\"x\r\ny\",\"say \"\"hi\"\", ok\"\r\nlast,1\r\n";
        let (records, _, consumed) = csv(text, false);
        assert_eq!(
            records,
            [
                rec(1, &["a", "b"]),
                rec(2, &["x\r\ny", "say \"hi\", ok"]),
                rec(4, &["last", "1"])
            ]
        );
        assert_eq!(consumed, (text.len(), 5));
    }

    #[test]
    fn a_record_at_the_end_of_a_growing_window_waits() {
        // No line break yet, inside an open quote, or right after the `\r` of `\r\n`.
        for text in ["a,b\n1,x", "a,b\n1,\"x\ny", "a,b\n1,\"x\ny\"\r"] {
            let (records, incomplete, consumed) = csv(text, false);
            assert_eq!(records, [rec(1, &["a", "b"])], "{text:?}");
            assert!(incomplete, "{text:?}");
            assert_eq!(consumed, (4, 2), "{text:?}");
            // The same bytes as the whole file: the end of the data ends the record.
            let (records, incomplete, _) = csv(text, true);
            assert_eq!(records.len(), 2, "{text:?}");
            assert!(!incomplete);
        }
        let (records, _, _) = csv("a\n1", true);
        assert_eq!(records[1], (2, false, vec!["1".to_string()]));
        let (records, _, _) = csv("a\n\"1\n\"", true);
        assert_eq!(records[1], (2, false, vec!["1\n".to_string()]));
    }

    #[test]
    fn a_byte_order_mark_is_data_inside_a_window() {
        assert_eq!(bom_len(b"\xEF\xBB\xBFa,b"), 3);
        assert_eq!(bom_len(b"a,b"), 0);
        let (records, _, _) = csv("\u{feff}x,y\n", true);
        assert_eq!(records, [rec(1, &["\u{feff}x", "y"])]);
    }

    #[test]
    fn long_records_grow_the_buffers() {
        let long = "x".repeat(5000);
        let many = vec!["1"; 100].join(",");
        let text = format!("{long},{long}\n{many}\n");
        let (records, _, _) = csv(&text, false);
        assert_eq!(records[0].2, [long.clone(), long]);
        assert_eq!(records[1].2.len(), 100);
    }

    #[test]
    fn json_lines_split_on_every_line_break() {
        let text = b"{\"a\":1}\r\n\r{\"a\":2}\n{\"a\":3}";
        let lines = |last: bool| {
            let mut s = LineScanner::new(text, last, 1);
            let mut out = vec![];
            while let Scan::Record(l) = s.next_line() {
                out.push((
                    l.line,
                    String::from_utf8_lossy(l.text).into_owned(),
                    l.terminated,
                ));
            }
            (out, s.consumed())
        };
        let (growing, consumed) = lines(false);
        assert_eq!(
            growing,
            [
                (1, "{\"a\":1}".to_string(), true),
                (2, String::new(), true),
                (3, "{\"a\":2}".to_string(), true)
            ]
        );
        assert_eq!(consumed, (text.len() - 7, 4));
        let (whole, consumed) = lines(true);
        assert_eq!(whole[3], (4, "{\"a\":3}".to_string(), false));
        assert_eq!(consumed, (text.len(), 5));
        let mut s = LineScanner::new(b"{}\r", false, 1);
        assert!(matches!(s.next_line(), Scan::Incomplete));
    }
}
