//! `commsadvise interactive` in a pseudo-terminal, and without one.
