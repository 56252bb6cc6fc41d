//! The client settings table of docs/configuration.md says what the settings table in the
//! code says: every key, variable, default and reload column, nothing more
//! or less.

use app::config::Reload;
use client::config::TABLE;
use testkit::{assert_same_rows, doc_table};

#[test]
fn documented_client_settings_match_the_table() {
    let readme = doc_table(
        "docs/configuration.md",
        "## Client settings",
        &["yaml key", "env var", "default", "reload"],
    );
    let ignored = |key: &str| TABLE.ignored.contains(&key);
    let found: Vec<Vec<String>> = readme.into_iter().filter(|r| !ignored(&r[0])).collect();
    let expected: Vec<Vec<String>> = TABLE
        .settings
        .iter()
        .map(|s| {
            let reload = if s.reload == Reload::Live {
                "live"
            } else {
                "restart"
            };
            vec![
                s.key.into(),
                TABLE.env_name(s.key),
                s.default.into(),
                reload.into(),
            ]
        })
        .collect();
    assert_same_rows(
        "docs/configuration.md \"## Client settings\" against client::config::TABLE",
        &expected,
        &found,
    );
}
