//! The keys a program was given but does not read: reported in one warning
//! line so that a misspelled setting (`SERVER_PROT`) does not pass unnoticed.

use crate::config::quote::shorten;
use crate::{LogLine, Outcome};

/// Names listed in the warning before the rest is only counted.
const LISTED: usize = 20;

/// Unknown keys of the config file and of the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnknownKeys {
    /// The config file, as the user named it.
    pub(crate) file: String,
    /// Keys (and `[name] section`s) of the file that no setting reads, sorted.
    pub(crate) in_file: Vec<String>,
    /// Environment variables with the program's prefix that no setting reads, sorted.
    pub(crate) in_env: Vec<String>,
}

impl UnknownKeys {
    /// Whether nothing was ignored.
    pub fn is_empty(&self) -> bool {
        self.in_file.is_empty() && self.in_env.is_empty()
    }

    /// The warning, if anything was ignored:
    /// `action: config | result: success | warning: unknown keys ignored | file: config.ini | file_keys: A, [x] section | env_vars: B`.
    /// The result stays `success`: the program runs on what it understood.
    pub fn log_line(&self) -> Option<LogLine> {
        if self.is_empty() {
            return None;
        }
        let mut line =
            LogLine::new("config", Outcome::Success).field("warning", "unknown keys ignored");
        if !self.in_file.is_empty() {
            line = line
                .field("file", shorten(&self.file))
                .field("file_keys", list(&self.in_file));
        }
        if !self.in_env.is_empty() {
            line = line.field("env_vars", list(&self.in_env));
        }
        Some(line)
    }
}

/// `a, b, c`, each name made one short line, at most [`LISTED`] of them.
fn list(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(LISTED)
        .map(|n| shorten(n))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED {
        text.push_str(&format!(" and {} more", names.len() - LISTED));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_unknown_no_line() {
        assert_eq!(
            UnknownKeys::default().log_line().map(|l| l.to_string()),
            None
        );
    }

    #[test]
    fn one_line_names_them_all() {
        let unknown = UnknownKeys {
            file: "config.ini".into(),
            in_file: vec!["SERVER_PROT".into(), "[other] section".into()],
            in_env: vec!["SERVER_FOO".into()],
        };
        assert_eq!(
            unknown.log_line().unwrap().to_string(),
            "action: config | result: success | warning: unknown keys ignored | file: config.ini | file_keys: SERVER_PROT, [other] section | env_vars: SERVER_FOO"
        );
    }

    #[test]
    fn many_or_long_names_stay_readable() {
        let unknown = UnknownKeys {
            file: "c.yaml".into(),
            in_file: (0..25).map(|i| format!("k{i:02}")).collect(),
            in_env: vec![format!("CLI_{}", "X".repeat(1000))],
        };
        let line = unknown.log_line().unwrap().to_string();
        assert!(line.contains("k19 and 5 more | env_vars: CLI_"), "{line}");
        assert!(line.ends_with("... (1004 characters)"), "{line}");
        assert!(line.len() < 400, "{}", line.len());
    }
}
