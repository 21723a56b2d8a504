//! TEMPORARY STUB: being written.
