//! The wire protocols natterd speaks, one module each. A front end decodes
//! its protocol, runs its connection's state machine, maps each request to
//! an operation in [`crate::ops`] and each result back to its own reply.
//! Today that is only natter's own protocol ([`natter`]); an IRC front end
//! goes beside it.

pub mod natter;
