//! The README's server settings table says what the settings table in the
//! code says: every key, default and reload column, nothing more or less.

use app::config::Reload;
use server::config::TABLE;
use testkit::{assert_same_rows, readme_table};

#[test]
fn readme_server_settings_match_the_table() {
    let readme = readme_table("### Server settings", &["key", "default", "reload"]);
    let ignored = |key: &str| TABLE.ignored.contains(&key);
    let found: Vec<Vec<String>> = readme.into_iter().filter(|r| !ignored(&r[0])).collect();
    let expected: Vec<Vec<String>> = TABLE
        .settings
        .iter()
        .map(|s| {
            // The README's heading says the variable and the ini key are one name.
            assert_eq!(TABLE.env_name(s.key), s.key, "{}", s.name);
            let reload = if s.reload == Reload::Live {
                "live"
            } else {
                "restart"
            };
            vec![s.key.into(), s.default.into(), reload.into()]
        })
        .collect();
    assert_same_rows(
        "README \"### Server settings\" against server::config::TABLE",
        &expected,
        &found,
    );
}
