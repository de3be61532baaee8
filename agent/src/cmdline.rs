//! Which slot the kernel command line says is running (`safeslot.slot=` or `rauc.slot=`).

/// The value of `safeslot.slot=` (preferred) or `rauc.slot=` in `cmdline`, if any.
pub fn slot_arg(cmdline: &str) -> Option<&str> {
    let find = |key: &str| cmdline.split_ascii_whitespace().filter_map(|w| w.strip_prefix(key)).next_back();
    find("safeslot.slot=").or_else(|| find("rauc.slot=")).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_either_key() {
        assert_eq!(slot_arg("root=/dev/x rauc.slot=B quiet\n"), Some("B"));
        assert_eq!(slot_arg("rauc.slot=A safeslot.slot=b"), Some("b"));
        assert_eq!(slot_arg("safeslot.slot= console=ttyS0"), None);
        assert_eq!(slot_arg("xrauc.slot=A"), None);
    }
}
