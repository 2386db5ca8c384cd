//! testbed: brings the test bed up and down.
fn main() {}
