//! safeslot-image (placeholder until its issue lands)
