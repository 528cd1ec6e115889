//! Faults from the outside world, with the real binaries: clocks that disagree, a disk that
//! fills up, credentials that must never be printed. Every test ends by reading the tables back
//! with pyiceberg (exact rows) and checking every file the metadata references is stored.

mod clock_skew;
mod full_disk;
mod secrets;
