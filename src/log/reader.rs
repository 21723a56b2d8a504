//! The one reader of the logs. Reporters get an env's output back after it ran through
//! [`open`] (the whole of it: grouped output, `report::junit`'s excerpts) and [`tail`] (its
//! end: failure tails, GitHub annotations): its log file, and, when the log is incomplete (a
//! full or failing disk), the rest of the output that the log writer kept in memory (see
//! [`crate::event::LogIncomplete`]), with a note where memory had to cut some of it. The
//! scrollback pages a live log by byte offset with [`open_at`].

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use crate::event::{EnvResult, LogIncomplete};

/// The log at `path`, opened read-only (the log writer owns and writes it) and positioned at
/// byte `offset`: for reading a log that may still grow, from a known place in it.
pub fn open_at(path: &Path, offset: u64) -> io::Result<File> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    Ok(file)
}

/// The note that stands in for output memory could not keep.
pub fn cut_note(log: &LogIncomplete) -> Vec<u8> {
    let newline = if log.head.last().is_none_or(|&b| b == b'\n') {
        ""
    } else {
        "\n"
    };
    format!(
        "{newline}[runall: {} bytes of output cut here: the log could not take them and memory keeps only their start and end]\n",
        log.cut
    )
    .into_bytes()
}

/// What follows the log's bytes: the kept head, the cut note, the kept tail.
fn memory(log: &LogIncomplete) -> Vec<u8> {
    let mut bytes = log.head.clone();
    if log.cut > 0 {
        bytes.extend_from_slice(&cut_note(log));
    }
    bytes.extend_from_slice(&log.tail);
    bytes
}

/// The whole output of `result`'s attempt, from its start.
pub fn open(result: &EnvResult) -> io::Result<Box<dyn Read>> {
    let Some(log) = &result.log_incomplete else {
        return Ok(Box::new(File::open(&result.log_path)?));
    };
    let rest = io::Cursor::new(memory(log));
    if log.logged == 0 {
        return Ok(Box::new(rest));
    }
    let file = File::open(&result.log_path)?;
    Ok(Box::new(file.take(log.logged).chain(rest)))
}

/// The last `window` bytes of `result`'s output, and whether its start was cut off.
pub fn tail(result: &EnvResult, window: u64) -> io::Result<(Vec<u8>, bool)> {
    let (logged, memory) = match &result.log_incomplete {
        Some(log) => (Some(log.logged), memory(log)),
        None => (None, Vec::new()),
    };
    let from_memory = (memory.len() as u64).min(window);
    let mut data = Vec::new();
    let need = window - from_memory;
    let mut cut = memory.len() as u64 > window;
    if need > 0 && logged != Some(0) {
        let mut file = File::open(&result.log_path)?;
        let len = match logged {
            Some(n) => n,
            None => file.metadata()?.len(),
        };
        let start = len.saturating_sub(need);
        file.seek(SeekFrom::Start(start))?;
        file.take(len - start).read_to_end(&mut data)?;
        cut = start > 0;
    }
    data.extend_from_slice(&memory[memory.len() - from_memory as usize..]);
    Ok((data, cut))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EnvStatus;
    use std::sync::Arc;
    use std::time::Duration;

    fn result(path: &std::path::Path, log: Option<LogIncomplete>) -> EnvResult {
        EnvResult {
            log_incomplete: log.map(Arc::new),
            ..EnvResult::new(EnvStatus::Passed, Duration::ZERO, path)
        }
    }

    fn incomplete(logged: u64, head: &str, cut: u64, tail: &str) -> LogIncomplete {
        LogIncomplete {
            error: "No space left on device".into(),
            logged,
            head: head.into(),
            cut,
            tail: tail.into(),
        }
    }

    fn read_all(result: &EnvResult) -> String {
        let mut text = String::new();
        open(result)
            .expect("open")
            .read_to_string(&mut text)
            .expect("read");
        text
    }

    #[test]
    fn whole_output_is_the_logged_part_then_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.log");
        // The file may hold a torn write past `logged`: only `logged` bytes count.
        std::fs::write(&path, "one\ntwo\ntorn").expect("write");
        let r = result(&path, Some(incomplete(8, "three\n", 0, "four\n")));
        assert_eq!(read_all(&r), "one\ntwo\nthree\nfour\n");
        assert_eq!(
            tail(&r, 1000).expect("tail"),
            (b"one\ntwo\nthree\nfour\n".to_vec(), false)
        );
        assert_eq!(
            tail(&r, 12).expect("tail"),
            (b"\nthree\nfour\n".to_vec(), true)
        );
        assert_eq!(tail(&r, 9).expect("tail"), (b"ree\nfour\n".to_vec(), true));
        assert_eq!(tail(&r, 5).expect("tail"), (b"four\n".to_vec(), true));
        let whole = result(&path, None);
        assert_eq!(read_all(&whole), "one\ntwo\ntorn");
        assert_eq!(tail(&whole, 4).expect("tail"), (b"torn".to_vec(), true));
    }

    #[test]
    fn open_at_reads_a_log_from_its_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.log");
        std::fs::write(&path, "one\ntwo\n").expect("write");
        let mut text = String::new();
        open_at(&path, 4)
            .expect("open")
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(text, "two\n");
        let missing = open_at(&dir.path().join("none.log"), 0).map(|_| ());
        assert_eq!(missing.map_err(|e| e.kind()), Err(io::ErrorKind::NotFound));
    }

    #[test]
    fn a_cut_is_said_and_a_missing_log_is_not_needed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = result(
            &dir.path().join("never-created.log"),
            Some(incomplete(0, "start\n", 42, "end\n")),
        );
        let text = read_all(&r);
        assert!(
            text.starts_with("start\n[runall: 42 bytes of output cut here")
                && text.ends_with("]\nend\n"),
            "{text}"
        );
        assert_eq!(tail(&r, 4).expect("tail"), (b"end\n".to_vec(), true));
    }
}
