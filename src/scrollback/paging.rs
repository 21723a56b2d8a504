//! Paging from the log: lines evicted from the scrollback's memory are re-parsed from the env's
//! log file, which holds the very same bytes from offset 0. The line store's sparse index gives,
//! for every `page_lines`th line, where it starts in the log and which style was active there,
//! so any page can be re-parsed on its own; [`Pages`] keeps the last [`PAGE_CACHE`] pages read,
//! and [`scan_log`] streams lines from any checkpoint (a search reads evicted lines that way).
//!
//! It opens the log only through the log room's reader ([`crate::log::reader::open_at`]:
//! read-only, at a byte offset, the same file the reporters read), and never fails
//! loudly: when the log is missing or unreadable, evicted lines come back empty. Its tests are
//! the scrollback's own (`pages_evicted_lines_from_log_with_styles`,
//! `paging_from_log_matches_uncapped`), which compare paged lines with an uncapped buffer's.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::Path;

use super::parser::Parser;
use super::store::{Block, Checkpoint, LineRef, LineStore};

/// Pages of evicted lines kept parsed, so scrolling across a page boundary doesn't re-read.
const PAGE_CACHE: usize = 2;

/// Bytes read from the log at a time.
const LOG_READ_BYTES: usize = 64 * 1024;

/// The pages of evicted lines read back from the log most recently, most recently used last.
#[derive(Debug, Default)]
pub(super) struct Pages {
    pages: VecDeque<Page>,
}

/// Parsed lines `[number * page_lines, ..)` read back from the log.
#[derive(Debug)]
struct Page {
    number: usize,
    lines: Block,
    /// `bytes_in` when the page was read.
    loaded_at: u64,
}

impl Pages {
    /// Forgets every page (the log changed).
    pub(super) fn clear(&mut self) {
        self.pages.clear();
    }

    /// Heap bytes held by the pages' lines.
    pub(super) fn heap_bytes(&self) -> usize {
        self.pages.iter().map(|page| page.lines.heap_bytes()).sum()
    }

    /// Evicted line `index` of `store`, from the cache or re-parsed from `log`, which holds
    /// `bytes_in` bytes so far.
    pub(super) fn line(
        &mut self,
        log: Option<&Path>,
        store: &LineStore,
        bytes_in: u64,
        index: usize,
    ) -> Option<LineRef<'_>> {
        let per_page = store.page_lines;
        let number = index / per_page;
        let within = index % per_page;
        let cached = self.pages.iter().position(|page| page.number == number);
        let page = match cached.and_then(|pos| self.pages.remove(pos)) {
            Some(page) if page.lines.len() > within => page,
            // The log had fewer lines than expected (not flushed yet, or unreadable): read it
            // again only once more bytes have arrived, not once per rendered line.
            Some(page) if page.loaded_at == bytes_in => {
                self.pages.push_back(page);
                return None;
            }
            _ => {
                let page = load_page(log, store, bytes_in, number)?;
                if self.pages.len() >= PAGE_CACHE {
                    self.pages.pop_front();
                }
                page
            }
        };
        self.pages.push_back(page);
        self.pages.back().and_then(|page| page.lines.get(within))
    }
}

/// Re-parses page `number` of `store` from the log, starting at its index entry.
fn load_page(log: Option<&Path>, store: &LineStore, bytes_in: u64, number: usize) -> Option<Page> {
    let path = log?;
    let start = *store.index.get(number)?;
    let per_page = store.page_lines;
    let want = per_page.min(store.completed().saturating_sub(number * per_page));
    let mut lines = Block::default();
    // On a read error the lines parsed so far are still right; the rest come back empty.
    let _ = scan_log(path, start, bytes_in, |line| {
        lines.push(line);
        if lines.len() >= want {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    Some(Page {
        number,
        lines,
        loaded_at: bytes_in,
    })
}

/// Reads the log from `start` up to byte `limit`, handing each parsed line to `on_line` until it
/// breaks. A line cut by `limit` counts as complete (it was ended by `finish`); one cut by the end
/// of the file does not (the rest isn't written yet).
pub(super) fn scan_log(
    path: &Path,
    start: Checkpoint,
    limit: u64,
    mut on_line: impl FnMut(LineRef<'_>) -> ControlFlow<()>,
) -> io::Result<()> {
    let mut file = crate::log::reader::open_at(path, start.offset)?;
    let mut remaining = limit.saturating_sub(start.offset);
    let mut parser = Parser::new(start.pen);
    let mut buf = vec![0; LOG_READ_BYTES];
    let mut line = Block::default();
    let mut emit = |parser: &Parser| {
        line.clear();
        parser.store_line(&mut line);
        line.get(0).map_or(ControlFlow::Continue(()), &mut on_line)
    };
    while remaining > 0 {
        let want = remaining.min(LOG_READ_BYTES as u64) as usize;
        let Some(chunk) = buf.get_mut(..want) else {
            return Ok(());
        };
        let n = match file.read(chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        remaining -= n as u64;
        let flow = parser.feed(chunk.get(..n).unwrap_or_default(), &mut |parser, _| {
            emit(parser)
        });
        if flow.is_break() {
            return Ok(());
        }
    }
    if parser.finish() {
        let _ = emit(&parser);
    }
    Ok(())
}
