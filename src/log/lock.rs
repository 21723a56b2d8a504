//! The log-folder lock: two runs at once in the same folder would overwrite each other's logs,
//! so the second one stops with a clear message naming the first one's pid.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use rustix::fs::{FlockOperation, flock};

use crate::error::Error;

/// Held for the whole run; the OS drops the lock when the file closes (even on SIGKILL).
#[derive(Debug)]
pub struct LogDirLock {
    _file: File,
}

impl LogDirLock {
    /// Create the log folder and take `<dir>/.lock`, or say who holds it.
    pub fn acquire(dir: &Path) -> Result<Self, Error> {
        let io_err = |source| Error::LogDir {
            dir: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(io_err)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(".lock"))
            .map_err(io_err)?;
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(Error::Locked {
                dir: dir.to_path_buf(),
                pid: pid.trim().to_owned(),
            });
        }
        file.set_len(0).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        write!(file, "{}", std::process::id()).map_err(io_err)?;
        Ok(Self { _file: file })
    }
}
