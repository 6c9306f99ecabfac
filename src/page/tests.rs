//! Tests of the page stage.
