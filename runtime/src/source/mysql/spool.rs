//! A snapshot's rows on disk until the runner applies them in one store transaction: per table,
//! a file of length-prefixed rows in the store's own value encoding.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use dozer_types::Value;

use crate::codec::{Decode, Encode, Reader};

pub struct SpoolWriter {
    path: PathBuf,
    out: BufWriter<std::fs::File>,
    buf: Vec<u8>,
}

impl SpoolWriter {
    pub fn create(path: &Path) -> std::io::Result<SpoolWriter> {
        Ok(SpoolWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?),
            buf: vec![],
        })
    }

    pub fn write(&mut self, row: &[Value]) -> std::io::Result<()> {
        self.buf.clear();
        for v in row {
            v.encode(&mut self.buf);
        }
        self.out.write_all(&(self.buf.len() as u64).to_le_bytes())?;
        self.out.write_all(&self.buf)
    }

    /// Flushes the file and returns its path.
    pub fn finish(mut self) -> std::io::Result<PathBuf> {
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        Ok(self.path)
    }
}

/// The rows of a spool file, each of `columns` values, in the order they were written.
pub struct SpoolReader {
    input: BufReader<std::fs::File>,
    columns: usize,
    buf: Vec<u8>,
}

impl SpoolReader {
    pub fn open(path: &Path, columns: usize) -> std::io::Result<SpoolReader> {
        Ok(SpoolReader {
            input: BufReader::with_capacity(1 << 20, std::fs::File::open(path)?),
            columns,
            buf: vec![],
        })
    }

    /// The next row; `None` at the end.
    pub fn next_row(&mut self) -> std::io::Result<Option<Vec<Value>>> {
        let mut len = [0u8; 8];
        match self.input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        self.buf.resize(u64::from_le_bytes(len) as usize, 0);
        self.input.read_exact(&mut self.buf)?;
        let mut r = Reader::new(&self.buf);
        (0..self.columns)
            .map(|_| Value::decode(&mut r))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.rows");
        let rows = vec![
            vec![Value::Int(1), Value::String("a".into()), Value::Null],
            vec![
                Value::Int(2),
                Value::String(String::new()),
                Value::Float(0.5),
            ],
        ];
        let mut w = SpoolWriter::create(&path).unwrap();
        for r in &rows {
            w.write(r).unwrap();
        }
        let path = w.finish().unwrap();
        let mut r = SpoolReader::open(&path, 3).unwrap();
        assert_eq!(r.next_row().unwrap(), Some(rows[0].clone()));
        assert_eq!(r.next_row().unwrap(), Some(rows[1].clone()));
        assert_eq!(r.next_row().unwrap(), None);
    }
}
