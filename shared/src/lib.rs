//! safeslot-shared
#![no_std]
