//! safeslot-layout (placeholder until its issue lands)
