//! The server settings table of docs/configuration.md says what the settings table in the
//! code says: every key, default and reload column, nothing more or less.

use app::config::Reload;
use server::config::TABLE;
use testkit::{assert_same_rows, doc_table};

#[test]
fn documented_server_settings_match_the_table() {
    let readme = doc_table(
        "docs/configuration.md",
        "## Server settings",
        &["key", "default", "reload"],
    );
    let ignored = |key: &str| TABLE.ignored.contains(&key);
    let found: Vec<Vec<String>> = readme.into_iter().filter(|r| !ignored(&r[0])).collect();
    let expected: Vec<Vec<String>> = TABLE
        .settings
        .iter()
        .map(|s| {
            // The heading says the variable and the ini key are one name.
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
        "docs/configuration.md \"## Server settings\" against server::config::TABLE",
        &expected,
        &found,
    );
}
