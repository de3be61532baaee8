//! safeslotctl (placeholder until its issue lands)
