//! safeslot-hil (placeholder until its issue lands)
