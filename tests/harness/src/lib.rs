//! Test bed harness.
