//! Stub: replaced by the report helper.
