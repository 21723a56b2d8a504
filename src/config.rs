//! Stub: replaced by the config helper.
