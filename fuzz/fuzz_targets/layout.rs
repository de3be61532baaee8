//! The text inputs of the layout crate: a board's `layout.toml` (the single source of
//! truth for its flash layout) and the agent's config. Total: any text is parsed and
//! validated, or refused with a typed error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use safeslot_layout::AgentConfig;
use safeslot_layout::Layout;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else { return };
    // A directory with no key files: key paths in the text resolve to nothing.
    let _ = Layout::parse(text, Path::new("/nonexistent/safeslot-fuzz"));
    let _ = AgentConfig::parse(text);
});
