//! safeslot-boot (placeholder until its issue lands)
