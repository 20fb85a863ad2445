//! Streamed rows of a log file, CSV (header row first, by the `csv` crate) or JSON lines (an
//! object per line), read one at a time so a log of any length needs the memory of one row:
//! what `replay` arrivals and `aichaos fit` read. A field is looked up by column name (a
//! CSV header, a JSON key; a dotted name such as `attributes.status` reaches into nested
//! JSON objects); its text is what the row holds, a JSON number or boolean as written.
//!
//! Reading is the whole cost of a replayed run's arrivals, so both formats read only what is
//! asked for. A CSV line without quotes is split at its commas up to the last column kept
//! (`keep_only`), as bytes, where it lies in the reader's buffer (a line across the
//! buffer's end is copied first; only the fields looked up are checked for UTF-8); a line with
//! quotes, with any line breaks its quoted fields hold, goes through the `csv` crate (RFC
//! 4180), so the fast path changes no field's text. With `keep_only` a JSON line's wanted
//! members are slices of the line (serde_json's `RawValue`), the others skipped unbuilt
//! (`IgnoredAny`): no map, no key or value allocated per row (`benches/replay.rs` measures a
//! replay against Poisson arrivals; docs/src/guides/fit.md, "Replaying recorded traffic").

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::requestlog::LogFormat;

/// A row that could not be read: its line (1-based) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

enum Source {
    Csv(CsvRows),
    Json {
        reader: BufReader<File>,
        buf: String,
        /// Without `keep_only`: the whole object.
        object: Map<String, Value>,
        /// With `keep_only`: the top-level keys worth keeping (each once); the others are
        /// skipped unbuilt, which makes a replay's JSON lines several times cheaper to read.
        keep: Option<Vec<String>>,
        /// Per kept key, where its value's JSON text lies in `buf` in the current row.
        found: Vec<Option<(usize, usize)>>,
    },
}

/// The rows of one file, one at a time.
pub struct Rows {
    source: Source,
    /// The line the current row began on (1-based; a CSV header is line 1).
    pub line: u64,
}

impl Rows {
    /// Opens `path`: CSV for a `.csv` name, JSON lines otherwise. A CSV file's header is
    /// read here.
    pub fn open(path: &Path) -> Result<Rows, String> {
        let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let reader = BufReader::with_capacity(1 << 16, file);
        let source = match LogFormat::for_path(path) {
            LogFormat::Csv => Source::Csv(CsvRows::open(reader)?),
            LogFormat::JsonLines => Source::Json {
                reader,
                buf: String::new(),
                object: Map::new(),
                keep: None,
                found: Vec::new(),
            },
        };
        Ok(Rows { source, line: 0 })
    }

    /// Reads only these columns (and, for a dotted name, its first key's object) of JSON
    /// lines; `get` finds nothing else. CSV rows are cheap to read whole.
    pub fn keep_only(&mut self, columns: &[&str]) {
        if let Source::Csv(csv) = &mut self.source {
            csv.needed = columns
                .iter()
                .filter_map(|c| csv.headers.iter().position(|h| h == c))
                .max()
                .map_or(0, |i| i + 1);
        }
        if let Source::Json { keep, found, .. } = &mut self.source {
            let mut keys: Vec<String> = columns
                .iter()
                .flat_map(|c| [c.to_string(), c.split('.').next().unwrap_or(c).to_string()])
                .collect();
            keys.sort();
            keys.dedup();
            *found = vec![None; keys.len()];
            *keep = Some(keys);
        }
    }

    /// A CSV file's columns (None for JSON lines, whose keys vary by row).
    pub fn headers(&self) -> Option<&[String]> {
        match &self.source {
            Source::Csv(csv) => Some(&csv.headers),
            Source::Json { .. } => None,
        }
    }

    /// Moves to the next row: Some(Ok) when there is one, Some(Err) for a row that cannot
    /// be read (the next call goes on after it), None at the end. Blank lines are skipped.
    pub fn advance(&mut self) -> Option<Result<(), RowError>> {
        match &mut self.source {
            Source::Csv(csv) => {
                let row = csv.advance()?;
                self.line = csv.row_line;
                Some(row.map_err(|reason| RowError {
                    line: csv.row_line,
                    reason,
                }))
            }
            Source::Json {
                reader,
                buf,
                object,
                keep,
                found,
            } => loop {
                buf.clear();
                self.line += 1;
                match reader.read_line(buf) {
                    Ok(0) => return None,
                    Ok(_) if buf.trim().is_empty() => continue,
                    Ok(_) => {}
                    Err(e) => {
                        return Some(Err(RowError {
                            line: self.line,
                            reason: format!("cannot read: {e}"),
                        }));
                    }
                }
                let parsed = match keep {
                    None => serde_json::from_str::<Map<String, Value>>(buf).map(|o| *object = o),
                    Some(keys) => {
                        found.iter_mut().for_each(|f| *f = None);
                        let mut de = serde_json::Deserializer::from_str(buf);
                        let base = buf.as_ptr() as usize;
                        let seed = Kept { keys, found, base };
                        match serde::de::DeserializeSeed::deserialize(seed, &mut de)
                            .and_then(|()| de.end())
                        {
                            // Stopped on purpose, every kept member found.
                            Err(_) if Kept::all_found(found) => Ok(()),
                            parsed => parsed,
                        }
                    }
                };
                return Some(match parsed {
                    Ok(()) => Ok(()),
                    Err(e) => Err(RowError {
                        line: self.line,
                        reason: format!("not a JSON object: {e}"),
                    }),
                });
            },
        }
    }

    /// `name` resolved once for `get_column`, which then reads a CSV field without looking
    /// its name up among the headers: for a loop over every row (a replay's arrivals).
    pub fn column(&self, name: &str) -> Column {
        let position = match &self.source {
            Source::Csv(csv) => csv.headers.iter().position(|h| h == name),
            Source::Json { .. } => None,
        };
        Column {
            name: name.to_string(),
            position,
        }
    }

    /// The current row's field `column` as `get` gives it, but as bytes: a CSV field is
    /// not checked for UTF-8 (a replay reads numbers, and checks their bytes itself).
    pub fn get_column(&self, column: &Column) -> Option<Cow<'_, [u8]>> {
        match &self.source {
            Source::Csv(csv) => {
                let bytes = csv.field(column.position?)?.trim_ascii();
                (!bytes.is_empty()).then_some(Cow::Borrowed(bytes))
            }
            Source::Json { .. } => Some(match self.get(&column.name)? {
                Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
                Cow::Owned(text) => Cow::Owned(text.into_bytes()),
            }),
        }
    }

    /// The current row's field `column`, as text; None when absent, empty or null.
    pub fn get(&self, column: &str) -> Option<Cow<'_, str>> {
        match &self.source {
            Source::Csv(csv) => {
                let i = csv.headers.iter().position(|h| h == column)?;
                csv_text(csv.field(i)?)
            }
            Source::Json {
                keep: Some(keys),
                found,
                buf,
                ..
            } => kept_value(keys, found, buf, column),
            Source::Json { object, .. } => match lookup(object, column)? {
                Value::Null => None,
                Value::String(s) if s.is_empty() => None,
                Value::String(s) => Some(Cow::Borrowed(s)),
                Value::Number(n) => Some(Cow::Owned(n.to_string())),
                Value::Bool(b) => Some(Cow::Owned(b.to_string())),
                other => Some(Cow::Owned(other.to_string())),
            },
        }
    }
}

/// A column of a file, resolved by `Rows::column`.
pub struct Column {
    name: String,
    /// Its position among a CSV file's headers.
    position: Option<usize>,
}

/// A CSV field's text, None when blank. Only the fields looked up are checked for UTF-8; a
/// bad byte shows as U+FFFD.
fn csv_text(field: &[u8]) -> Option<Cow<'_, str>> {
    let bytes = field.trim_ascii();
    if bytes.is_empty() {
        return None;
    }
    Some(match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    })
}

/// CSV rows (see the module's doc): plain lines split by hand, quoted ones by the `csv` crate.
struct CsvRows {
    reader: BufReader<File>,
    headers: Vec<String>,
    /// A plain row read in place: its length at the start of the reader's buffer, which
    /// the next `advance` consumes (with the line break, `consume` bytes in all). Most
    /// rows are read so, without a copy; a row across the buffer's end is copied to `line`.
    in_buffer: Option<usize>,
    consume: usize,
    /// The current row's text when copied (across the buffer's end, or quoted), and where
    /// its fields lie in the row (plain rows).
    line: Vec<u8>,
    fields: Vec<(usize, usize)>,
    /// The current row as the `csv` crate read it (lines with quotes).
    quoted: Option<csv::ByteRecord>,
    /// Fields split per plain line: up to the last column kept; all without `keep_only`.
    needed: usize,
    /// Lines read so far, and the one the current row began on.
    lines_read: u64,
    row_line: u64,
}

impl CsvRows {
    fn open(reader: BufReader<File>) -> Result<CsvRows, String> {
        let mut rows = CsvRows {
            reader,
            headers: Vec::new(),
            in_buffer: None,
            consume: 0,
            line: Vec::new(),
            fields: Vec::new(),
            quoted: None,
            needed: usize::MAX,
            lines_read: 0,
            row_line: 0,
        };
        let header = |e: String| format!("line 1: cannot read the CSV header: {e}");
        match rows.advance() {
            None => return Err(header("the file is empty".into())),
            Some(Err(e)) => return Err(header(e)),
            Some(Ok(())) => {}
        }
        let count = rows.quoted.as_ref().map_or(rows.fields.len(), |r| r.len());
        rows.headers = (0..count)
            .map(|i| {
                let name = String::from_utf8_lossy(rows.field(i).unwrap_or_default());
                // A UTF-8 byte order mark before the first name is not part of it.
                name.trim_start_matches('\u{feff}').trim().to_string()
            })
            .collect();
        Ok(rows)
    }

    /// The next row (blank lines skipped), or why it cannot be read, or None at the end.
    fn advance(&mut self) -> Option<Result<(), String>> {
        self.reader.consume(std::mem::take(&mut self.consume));
        self.in_buffer = None;
        loop {
            if let Some(read_in_place) = self.advance_in_buffer() {
                match read_in_place {
                    Ok(true) => return Some(Ok(())),
                    Ok(false) => continue, // a blank line
                    Err(e) => return Some(Err(format!("cannot read: {e}"))),
                }
            }
            self.line.clear();
            match self.reader.read_until(b'\n', &mut self.line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(format!("cannot read: {e}"))),
            }
            self.lines_read += 1;
            self.row_line = self.lines_read;
            trim_line_end(&mut self.line);
            if self.line.is_empty() {
                continue;
            }
            if memchr::memchr(b'"', &self.line).is_none() {
                self.quoted = None;
                split_plain(&self.line, self.needed, &mut self.fields);
                return Some(Ok(()));
            }
            return Some(self.read_quoted());
        }
    }

    /// The common case, a whole plain line already in the reader's buffer: split there,
    /// without copying it. Ok(true) for a row, Ok(false) for a blank line (consumed); None
    /// when the line is not whole in the buffer, holds a quote, or the file is over (the
    /// copying path reads it, or finds the end).
    fn advance_in_buffer(&mut self) -> Option<std::io::Result<bool>> {
        let buffer = match self.reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(e) => return Some(Err(e)),
        };
        // One pass finds the line's end and whether it holds a quote before it.
        let newline = memchr::memchr2(b'\n', b'"', buffer).filter(|&i| buffer[i] == b'\n')?;
        let end = match newline {
            0 => 0,
            n if buffer[n - 1] == b'\r' => n - 1,
            n => n,
        };
        let line = &buffer[..end];
        self.lines_read += 1;
        self.row_line = self.lines_read;
        if line.is_empty() {
            self.reader.consume(newline + 1);
            return Some(Ok(false));
        }
        split_plain(line, self.needed, &mut self.fields);
        self.quoted = None;
        self.in_buffer = Some(end);
        self.consume = newline + 1;
        Some(Ok(true))
    }

    /// A line with quotes: joined with the next lines while a quoted field is open, then
    /// read by the `csv` crate.
    fn read_quoted(&mut self) -> Result<(), String> {
        while quote_open(&self.line) {
            self.line.push(b'\n');
            let before = self.line.len();
            match self.reader.read_until(b'\n', &mut self.line) {
                Ok(0) => return Err("a quoted field is not closed".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("cannot read: {e}")),
            }
            self.lines_read += 1;
            let mut rest = self.line.split_off(before);
            trim_line_end(&mut rest);
            self.line.extend_from_slice(&rest);
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(self.line.as_slice());
        let mut record = csv::ByteRecord::new();
        match reader.read_byte_record(&mut record) {
            Ok(_) => {
                self.quoted = Some(record);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn field(&self, i: usize) -> Option<&[u8]> {
        if let Some(record) = &self.quoted {
            return record.get(i);
        }
        let line = match self.in_buffer {
            Some(len) => &self.reader.buffer()[..len],
            None => &self.line[..],
        };
        self.fields.get(i).map(|&(a, b)| &line[a..b])
    }
}

/// Where a plain line's fields lie: split at its commas up to field `needed` (the last
/// column kept), which ends at the next comma or the line's end.
fn split_plain(line: &[u8], needed: usize, fields: &mut Vec<(usize, usize)>) {
    fields.clear();
    let mut start = 0;
    // A plain loop: the fields kept are usually a short prefix of the line, shorter than
    // what a vectorised search needs to pay for itself.
    for (i, &byte) in line.iter().enumerate() {
        if byte == b',' {
            fields.push((start, i));
            if fields.len() >= needed {
                return;
            }
            start = i + 1;
        }
    }
    fields.push((start, line.len()));
}

/// Whether a quoted field is still open at the end of `text`: as RFC 4180 and the `csv`
/// crate read it, a quote opens a field only at its start, `""` inside is a quote, and a
/// quote elsewhere is a character like any other.
fn quote_open(text: &[u8]) -> bool {
    let (mut in_quotes, mut at_start, mut bytes) = (false, true, text.iter().peekable());
    while let Some(b) = bytes.next() {
        match (in_quotes, *b) {
            (false, b'"') if at_start => in_quotes = true,
            (false, b',') => at_start = true,
            (false, _) => at_start = false,
            (true, b'"') if bytes.peek() == Some(&&b'"') => {
                bytes.next();
            }
            (true, b'"') => {
                in_quotes = false;
                at_start = false;
            }
            (true, _) => {}
        }
    }
    in_quotes
}

/// Drops a line's `\n` or `\r\n`.
fn trim_line_end(line: &mut Vec<u8>) {
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
}

/// A JSON object's members whose keys are listed, found as slices of the line (`found`,
/// byte ranges from `base`); the others skipped without building them. Once every kept
/// member is found the line is read no further, as a CSV row is split no further than its
/// last kept column: checking the members after them would be most of a row's cost (a
/// replay's time and `attempt` come first in aichaos's own log). A key given twice counts
/// at its first place, wherever the reading stops. The visitor returns early once
/// `all_found`, and the caller, seeing them all found, takes serde_json's complaint that
/// the object does not end there as success.
struct Kept<'k> {
    keys: &'k [String],
    found: &'k mut [Option<(usize, usize)>],
    base: usize,
}

impl Kept<'_> {
    /// Every kept member found (and at least one kept): the visitor stops there.
    fn all_found(found: &[Option<(usize, usize)>]) -> bool {
        !found.is_empty() && found.iter().all(Option::is_some)
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Kept<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Kept<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match kept_index(self.keys, &key) {
                Some(i) => {
                    let raw: &'de RawValue = map.next_value()?;
                    let start = raw.get().as_ptr() as usize - self.base;
                    // A key given twice counts at its first place: where the line stops
                    // being read must not decide which copy wins.
                    self.found[i].get_or_insert((start, start + raw.get().len()));
                    if Kept::all_found(self.found) {
                        // serde_json then fails to find the object's end here, unless it
                        // is there; the caller sees that all were found.
                        return Ok(());
                    }
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Where `key` is among the kept keys: a scan, as they are few (a replay keeps two), which
/// compares lengths before bytes.
fn kept_index(keys: &[String], key: &str) -> Option<usize> {
    keys.iter().position(|k| k == key)
}

/// A member's key, borrowed from the line unless it holds escapes. (serde's own `Cow<str>`
/// always copies, which made the keys of the members skipped most of a row's cost.)
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }

            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_string())))
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// A kept member's text: a string's contents (unescaped only when it has escapes), a number
/// or boolean as written; None when absent, null or empty. A dotted name not kept whole
/// reaches into its first key's object, parsed for the purpose (the rare case).
fn kept_value<'a>(
    keys: &[String],
    found: &[Option<(usize, usize)>],
    buf: &'a str,
    column: &str,
) -> Option<Cow<'a, str>> {
    let raw = |name: &str| {
        let i = kept_index(keys, name)?;
        found[i].map(|(start, end)| &buf[start..end])
    };
    let Some(text) = raw(column) else {
        let (head, rest) = column.split_once('.')?;
        let object: Map<String, Value> = serde_json::from_str(raw(head)?).ok()?;
        return match lookup(&object, rest)? {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(Cow::Owned(s.clone())),
            other => Some(Cow::Owned(other.to_string())),
        };
    };
    match text.as_bytes().first()? {
        b'n' => None,
        b'"' if text.len() == 2 => None,
        b'"' if !text.contains('\\') => Some(Cow::Borrowed(&text[1..text.len() - 1])),
        b'"' => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
        _ => Some(Cow::Borrowed(text)),
    }
}

/// A key, or a dotted path of keys into nested objects (the whole name first: keys such as
/// `gen_ai.request.model` hold dots themselves).
fn lookup<'a>(object: &'a Map<String, Value>, column: &str) -> Option<&'a Value> {
    if let Some(v) = object.get(column) {
        return Some(v);
    }
    let (head, rest) = column.split_once('.')?;
    match object.get(head)? {
        Value::Object(inner) => lookup(inner, rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(name: &str, text: &str) -> (tempfile::TempDir, Rows) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let rows = Rows::open(&path).unwrap();
        (dir, rows)
    }

    #[test]
    fn csv_and_json_lines_give_fields_by_name_with_line_numbers() {
        let (_d, mut csv) = rows("a.csv", "t,status\n1,200\n2,\"5,0\"\n");
        assert!(csv.advance().unwrap().is_ok());
        assert_eq!((csv.line, csv.get("status").as_deref()), (2, Some("200")));
        assert!(csv.advance().unwrap().is_ok());
        assert_eq!(csv.get("status").as_deref(), Some("5,0"));
        assert_eq!(csv.get("missing"), None);
        assert!(csv.advance().is_none());

        // Plain lines split by hand and quoted ones by the csv crate give the same fields:
        // a quoted line break, "" inside quotes, a stray quote mid-field, CRLF, blank lines,
        // a byte order mark; with keep_only, columns past the last kept are not split.
        let (_d, mut csv) = rows(
            "b.csv",
            "\u{feff}t,note,x\r\n1,\"two\nlines\",a\r\n\r\n2,5\" screen,b\n3,\"say \"\"hi\"\"\",c\n4,,d",
        );
        let mut seen = Vec::new();
        while let Some(row) = csv.advance() {
            row.unwrap();
            let get = |c: &str| csv.get(c).map(|v| v.into_owned());
            seen.push((csv.line, get("t"), get("note"), get("x")));
        }
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            seen,
            [
                (2, some("1"), some("two\nlines"), some("a")),
                (5, some("2"), some("5\" screen"), some("b")),
                (6, some("3"), some("say \"hi\""), some("c")),
                (7, some("4"), None, some("d")),
            ]
        );
        let (_d, mut csv) = rows("c.csv", "t,a,b\n1,2,3\n");
        csv.keep_only(&["a"]);
        assert!(csv.advance().unwrap().is_ok());
        assert_eq!((csv.get("a").as_deref(), csv.get("b")), (Some("2"), None));

        let (_d, mut json) = rows(
            "a.jsonl",
            "{\"t\":1,\"a\":{\"b\":\"x\"}}\n\nnot json\n{\"t\":null}\n",
        );
        assert!(json.advance().unwrap().is_ok());
        assert_eq!(json.get("t").as_deref(), Some("1"));
        assert_eq!(json.get("a.b").as_deref(), Some("x"));
        let e = json.advance().unwrap().unwrap_err();
        assert_eq!(e.line, 3);
        assert!(json.advance().unwrap().is_ok());
        assert_eq!((json.line, json.get("t")), (4, None));
        assert!(json.advance().is_none());

        let (_d, mut kept) = rows(
            "b.jsonl",
            "{\"t\":1,\"x\":[1,2],\"a\":{\"b\":2}}\n{\"t\":2} extra\n",
        );
        kept.keep_only(&["t", "a.b"]);
        assert!(kept.advance().unwrap().is_ok());
        assert_eq!(
            (kept.get("t").as_deref(), kept.get("a.b").as_deref()),
            (Some("1"), Some("2"))
        );
        assert_eq!(kept.get("x"), None);
        assert_eq!(kept.advance().unwrap().unwrap_err().line, 2);

        // Once every kept member is found the line is read no further (as a CSV row is
        // split no further than its last kept column); one still missing reads it all.
        let (_d, mut kept) = rows(
            "d.jsonl",
            "{\"t\":5,\"attempt\":0,\"rest\":[unclosed\n{\"t\":6,\"rest\":[unclosed\n",
        );
        kept.keep_only(&["t", "attempt"]);
        assert!(kept.advance().unwrap().is_ok());
        assert_eq!(kept.get("t").as_deref(), Some("5"));
        assert_eq!(kept.advance().unwrap().unwrap_err().line, 2);
        // A key given twice: its first copy, whether the line is read to its end or not.
        let (_d, mut kept) = rows(
            "e.jsonl",
            "{\"t\":5,\"attempt\":1,\"attempt\":0}\n{\"attempt\":1,\"x\":0,\"attempt\":0,\"t\":5}\n",
        );
        kept.keep_only(&["t", "attempt"]);
        for _ in 0..2 {
            assert!(kept.advance().unwrap().is_ok());
            assert_eq!(kept.get("attempt").as_deref(), Some("1"));
        }

        // Kept members as written: escapes undone, null and "" absent, numbers verbatim.
        let (_d, mut kept) = rows(
            "c.jsonl",
            "{\"s\":\"a\\\"b\",\"n\":null,\"e\":\"\",\"f\":1.50,\"t\":true}\n",
        );
        kept.keep_only(&["s", "n", "e", "f", "t"]);
        assert!(kept.advance().unwrap().is_ok());
        assert_eq!(kept.get("s").as_deref(), Some("a\"b"));
        assert_eq!((kept.get("n"), kept.get("e")), (None, None));
        assert_eq!(
            (kept.get("f").as_deref(), kept.get("t").as_deref()),
            (Some("1.50"), Some("true"))
        );
    }

    /// Rows read in place in the reader's buffer, copied across its end, or handed to the
    /// csv crate (quoted) give the fields the csv crate gives, over a file many buffers
    /// long with rows of every width, CRLF endings and blank lines.
    #[test]
    fn csv_rows_across_buffer_ends_are_the_csv_crates_rows() {
        let mut text = String::from("t,name,note\n");
        let mut lines = Vec::new();
        let mut line = 2;
        for i in 0..30_000u64 {
            let width = (i * 7919) % 97;
            let name = "x".repeat(width as usize);
            lines.push(line);
            line += if i % 11 == 5 { 2 } else { 1 };
            match i % 11 {
                0 => text.push_str(&format!("{i},\"{name},q\",\"a\"\"b\"\r\n")),
                5 => text.push_str(&format!("{i},{name},\n\n")),
                3 | 7 => text.push_str(&format!("{i},{name},c{width}\r\n")),
                _ => text.push_str(&format!("{i},{name},n{width}\n")),
            }
        }
        assert!(text.len() > 20 * (1 << 16), "many buffers long");
        let (_d, mut rows) = rows("wide.csv", &text);
        let mut reference = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut read = 0;
        for expected in reference.records() {
            let expected = expected.unwrap();
            assert!(rows.advance().unwrap().is_ok());
            assert_eq!(rows.line, lines[read], "row {read}");
            for (i, column) in ["t", "name", "note"].iter().enumerate() {
                let want = expected.get(i).filter(|v| !v.is_empty());
                assert_eq!(rows.get(column).as_deref(), want, "row {read}, {column}");
            }
            read += 1;
        }
        assert!(rows.advance().is_none());
        assert_eq!(read, 30_000);
    }
}
