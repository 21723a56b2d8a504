//! runall's own writes to its standard streams outside the reporters: notes on stderr, the
//! output of one-shot commands on stdout, and how a failed write is said. A leaf module, so
//! the faces, the reporters and the commands can all use it.

use std::io::{self, Write};

/// Write to stderr for notes outside a run (`nothing to rerun`); a closed stderr is ignored.
pub fn write_stderr(bytes: &[u8]) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(bytes).and_then(|()| err.flush());
}

/// Write to stdout for one-shot commands (`runall list`). A closed stdout (`| head`) is not an
/// error; any other failure (`>/dev/full`) is said on stderr and returns false.
pub fn write_stdout(bytes: &[u8]) -> bool {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
            report_write_error("stdout", &error);
            false
        }
        _ => true,
    }
}

/// Says on stderr that writing to `sink` failed, unless it was a closed pipe (`| head`, which
/// stays quiet). A failing stderr has nobody left to tell.
pub fn report_write_error(sink: &str, error: &io::Error) {
    if error.kind() != io::ErrorKind::BrokenPipe {
        write_stderr(format!("runall: cannot write to {sink}: {error}\n").as_bytes());
    }
}
