//! (pages: being written)
