//! Config and rules parsing: arbitrary UTF-8 text as a user's config file
//! laid over the embedded defaults (`Config::from_layers`), and as a rules
//! file (`Profiles::from_toml`, both profiles compiled). Errors are fine;
//! panics are not. For an accepted config the derived values the hub
//! computes at start are computed too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tongguan::config::Config;
use tongguan::engine::rules::{Mode, Profiles};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::from_layers(Some(("fuzz".into(), text))) {
        let _ = config.engine.settings();
        let _ = config.check_exposure();
        let _ = config.shard_count();
    }
    if let Ok(profiles) = Profiles::from_toml(text) {
        for mode in [Mode::Normal, Mode::Emergency] {
            let set = profiles.get(mode);
            let kinds = set.incident_kinds().len();
            for rule in set.rules() {
                assert!(usize::from(rule.incident) < kinds);
                assert!(rule.deadline_ms >= 1);
            }
        }
    }
});
