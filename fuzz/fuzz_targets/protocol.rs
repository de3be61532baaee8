//! Every firmware <-> host protocol decoder over arbitrary bytes (docs/FORMAT.md): the
//! hand-off block, the mailbox command and report, the rig order line, the kernel command
//! line and the stage's log lines. Total, and the fixed-size blocks are canonical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use safeslot_shared::handoff::{Handoff, HANDOFF_FORMAT};
use safeslot_shared::mailbox::{Command, Report};
use safeslot_shared::protocol::{cmdline, log::StageLine, order::Order};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = Handoff::decode(data) {
        // Older formats decode, and encode as the current one: the same values come back.
        assert_eq!(Handoff::decode(&h.encode()), Ok(Handoff { format: HANDOFF_FORMAT, ..h }));
    }
    if let Ok(c) = Command::decode(data) {
        assert_eq!(Command::decode(&c.encode()), Ok(c));
    }
    if let Ok(r) = Report::decode(data) {
        assert_eq!(Report::decode(&r.encode()), Ok(r));
    }
    let Ok(text) = core::str::from_utf8(data) else { return };
    if let Ok(o) = Order::parse(text) {
        let mut line = String::new();
        o.encode(&mut line).expect("writing to a String");
        assert_eq!(Order::parse(&line), Ok(o), "order {line:?} does not parse back");
    }
    let _ = cmdline::parse(text);
    for line in text.lines() {
        let _ = StageLine::parse(line);
    }
});
