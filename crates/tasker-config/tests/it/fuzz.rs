//! Property tests of the loader: arbitrary TOML text and interpolation syntax never panic.

use proptest::prelude::*;
use tasker_config::Env;

use crate::Root;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_role_files_never_panic(text in "(\\[web\\.auth\\]\n|\\[\\[web\\.auth\\.api_keys\\]\\]\n|[a-z_]{1,12} = (\"[^\"\n]{0,20}\"|[0-9]{1,4}|true|\\[\\]|\\{\\})\n|\\$\\{[A-Z_:-]{0,8}\\}?|[ -~]{0,16}\n){0,12}") {
        let root = Root::new();
        root.write("base/orchestration.toml", &text);
        let _ = root.orchestration(&Env::from_pairs([("A", "1")]));
    }

    #[test]
    fn arbitrary_interpolated_values_never_panic(value in "[ -~]{0,40}") {
        let root = Root::new();
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        root.write("base/orchestration.toml", &format!("[web.auth]\njwt_issuer = \"{escaped}\"\n"));
        if let Ok(loaded) = root.orchestration(&Env::from_pairs([("X", "substituted")])) {
            let reference = ["$", "{X}"].concat();
            let unresolved = loaded.config.web.auth.jwt_issuer.contains(&reference) && !value.contains("$$");
            prop_assert!(!unresolved, "a reference survived interpolation");
        }
    }
}
