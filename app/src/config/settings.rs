//! Every setting declared once. A program lists its settings in one
//! [`Table`] of [`Setting`] rows (key, default, parser, help, whether a
//! reload may change it), and that table alone drives the lookup in the
//! layers, the defaults, the unknown keys, the `--help` text, the `config`
//! log line and the test that holds the README to it: nothing about a
//! setting is written twice, so nothing can drift. The [`settings!`] macro
//! writes the rows, so that each states only what is its own.
//!
//! [`settings!`]: crate::settings

use std::collections::BTreeSet;
use std::fmt;

use crate::config::{ConfigError, FileValues, Layers, UnknownKeys};
use crate::{LogLine, Outcome};

/// Whether a running program may take a new value of a setting when its
/// configuration is reloaded (SIGHUP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The new value can take effect in the running program.
    Live,
    /// Only a restart applies it (what it shapes is built once, such as the
    /// bound socket or the client's run).
    Restart,
}

/// One setting of a program whose settings are the fields of `C`; written
/// by [`settings!`](crate::settings).
pub struct Setting<C> {
    /// The field's name in the `config` log line.
    pub name: &'static str,
    /// The key in the config file; the environment variable follows from it
    /// by [`Table::env_name`].
    pub key: &'static str,
    /// The value when neither the environment nor the file sets it.
    pub default: &'static str,
    /// Whether a reload may change it.
    pub reload: Reload,
    /// One line for `--help`.
    pub help: &'static str,
    /// Parses a value into its field of `C`; `Err` says what was expected.
    pub apply: fn(&mut C, &str) -> Result<(), String>,
    /// The value in force, as the `config` line prints it.
    pub show: fn(&C) -> String,
}

impl<C> fmt::Debug for Setting<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setting")
            .field("name", &self.name)
            .field("key", &self.key)
            .field("default", &self.default)
            .field("reload", &self.reload)
            .finish_non_exhaustive()
    }
}

/// The rows of a [`Table`], one [`Setting`] each, in this shape:
///
/// ```text
/// /// The setting's line in `--help`.
/// field: "key" = "default", Live, parser;
/// field as name: "key" = "default", Restart, parser;
/// ```
///
/// `field` is the field of the program's config struct that `parser` (any
/// `fn(&str) -> Result<T, String>`, a closure included) fills; the value is
/// shown with its `Display`. The field is also the setting's name in the
/// `config` line, unless `as name` gives another.
#[macro_export]
macro_rules! settings {
    (@name $field:ident) => {
        stringify!($field)
    };
    (@name $field:ident $name:ident) => {
        stringify!($name)
    };
    ($(
        #[doc = $help:literal]
        $field:ident $(as $name:ident)?:
            $key:literal = $default:literal, $reload:ident, $parse:expr;
    )*) => {
        &[$(
            $crate::config::Setting {
                name: $crate::settings!(@name $field $($name)?),
                key: $key,
                default: $default,
                reload: $crate::config::Reload::$reload,
                help: $help.trim_ascii(),
                apply: |c, t| ($parse)(t).map(|v| c.$field = v),
                show: |c| c.$field.to_string(),
            }
        ),*]
    };
}

/// How a program names the environment variable of a config file key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvNames {
    /// The variable is the key itself (`config.ini` keys are variable names).
    Key,
    /// The table's `env_prefix`, then the key upper-cased with `.` as `_`:
    /// `loop.period` is `CLI_LOOP_PERIOD`.
    Prefixed,
}

/// A program's configuration: where it is read from, and every setting.
#[derive(Debug)]
pub struct Table<C: 'static> {
    /// The config file read from the working directory unless `--config`
    /// names another.
    pub file: &'static str,
    /// The file's format, parsed into keys.
    pub format: fn(&str) -> Result<FileValues, String>,
    /// Environment variables with this prefix are the program's: an unknown
    /// one is reported, anyone else's is not looked at.
    pub env_prefix: &'static str,
    /// How a key's environment variable is named.
    pub env_names: EnvNames,
    /// Keys known and ignored, with their variables.
    pub ignored: &'static [&'static str],
    /// The settings, in the order of the `config` line and of `--help`.
    pub settings: &'static [Setting<C>],
}

impl<C: Default> Table<C> {
    /// Reads every setting from the environment and the file at `path`
    /// (which must exist when `required`); also returns the keys given that
    /// no setting reads, and whether the file was there.
    pub fn load(
        &self,
        path: &std::path::Path,
        required: bool,
    ) -> Result<(C, UnknownKeys, bool), ConfigError> {
        let layers = Layers::load(path, required, self.format)?;
        let (config, unknown) = self.read(&layers)?;
        Ok((config, unknown, layers.file_found()))
    }

    /// Reads every setting from explicit layers. `C::default()` is only the
    /// frame the rows fill in: every field a row names gets its value from
    /// the layers or the row's default.
    pub fn read(&self, layers: &Layers) -> Result<(C, UnknownKeys), ConfigError> {
        let mut config = C::default();
        for setting in self.settings {
            let env = self.env_name(setting.key);
            layers.get(&env, setting.key, setting.default, |text| {
                (setting.apply)(&mut config, text)
            })?;
        }
        Ok((config, layers.unknown(self.env_prefix, &self.known())))
    }
}

impl<C> Table<C> {
    /// The environment variable of `key`, by the table's [`EnvNames`] rule.
    pub fn env_name(&self, key: &str) -> String {
        match self.env_names {
            EnvNames::Key => key.to_owned(),
            EnvNames::Prefixed => format!(
                "{}{}",
                self.env_prefix,
                key.to_ascii_uppercase().replace('.', "_")
            ),
        }
    }

    /// Every key and variable that a row or the ignored list names: what
    /// else the layers hold is unknown.
    fn known(&self) -> BTreeSet<String> {
        let keys = self.settings.iter().map(|s| s.key);
        keys.chain(self.ignored.iter().copied())
            .flat_map(|key| [key.to_owned(), self.env_name(key)])
            .collect()
    }

    /// The `action: config` line: every value in force.
    pub fn log_line(&self, config: &C) -> LogLine {
        self.settings
            .iter()
            .fold(LogLine::new("config", Outcome::Success), |line, setting| {
                line.field(setting.name, (setting.show)(config))
            })
    }

    /// The settings part of `--help`: one aligned line a setting (variable,
    /// file key where it differs, default, help), then the ignored keys.
    pub fn help(&self) -> String {
        let names = |key: &str| match self.env_names {
            EnvNames::Key => vec![key.to_owned()],
            EnvNames::Prefixed => vec![self.env_name(key), key.to_owned()],
        };
        let mut rows: Vec<Vec<String>> = self
            .settings
            .iter()
            .map(|s| {
                let mut row = names(s.key);
                row.extend([s.default.to_owned(), s.help.to_owned()]);
                row
            })
            .collect();
        rows.extend(self.ignored.iter().map(|key| {
            let mut row = names(key);
            row.extend(["".to_owned(), "accepted and ignored".to_owned()]);
            row
        }));
        aligned(&rows)
    }
}

/// Rows of cells as lines indented by two spaces, each column as wide as its
/// widest cell, two spaces apart; the last column is not padded.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in rows {
        let mut line = String::from(" ");
        for (cell, width) in row.iter().zip(&widths) {
            line.push(' ');
            line.push_str(&format!("{cell:<width$} "));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_in_range, parse_period, Period};

    #[derive(Debug, Default)]
    struct Toy {
        amount: u32,
        period: Period,
    }

    const TOY: Table<Toy> = Table {
        file: "toy.yaml",
        format: |_| Ok(FileValues::default()),
        env_prefix: "TOY_",
        env_names: EnvNames::Prefixed,
        ignored: &["old"],
        settings: crate::settings![
            /// how many
            amount: "amount" = "5", Restart, |t| parse_in_range(t, 1, 9);
            /// how often
            period: "loop.period" = "1s", Live, parse_period;
        ],
    };

    fn read(
        env: &[(&str, &str)],
        file: &[(&str, &str)],
    ) -> Result<(Toy, UnknownKeys), ConfigError> {
        let pairs = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<std::collections::HashMap<_, _>>()
        };
        TOY.read(&Layers::new(pairs(env), pairs(file), "toy.yaml"))
    }

    #[test]
    fn rows_fill_the_struct_from_env_file_or_default() {
        let (toy, unknown) = read(&[], &[]).unwrap();
        assert_eq!((toy.amount, toy.period.to_string().as_str()), (5, "1s"));
        assert!(unknown.is_empty());
        let (toy, _) = read(
            &[("TOY_AMOUNT", "7")],
            &[("amount", "3"), ("loop.period", "2s")],
        )
        .unwrap();
        assert_eq!((toy.amount, toy.period.to_string().as_str()), (7, "2s"));
    }

    #[test]
    fn a_row_states_only_what_is_its_own() {
        let [amount, period] = TOY.settings else {
            panic!("two rows")
        };
        assert_eq!(
            (amount.name, amount.key, amount.default, amount.reload),
            ("amount", "amount", "5", Reload::Restart)
        );
        assert_eq!((period.name, period.help), ("period", "how often"));
        const RENAMED: &[Setting<Toy>] = crate::settings![
            /// shown under another name
            amount as toy_amount: "amount" = "5", Live, |t| parse_in_range(t, 1, 9);
        ];
        assert_eq!(RENAMED[0].name, "toy_amount");
    }

    #[test]
    fn env_names_follow_the_rule() {
        assert_eq!(TOY.env_name("loop.period"), "TOY_LOOP_PERIOD");
        assert_eq!(TOY.env_name("batch.maxAmount"), "TOY_BATCH_MAXAMOUNT");
        let same = Table {
            env_names: EnvNames::Key,
            ..TOY
        };
        assert_eq!(same.env_name("SERVER_PORT"), "SERVER_PORT");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = read(&[], &[("amount", "10")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value for amount: \"10\" (from toy.yaml): expected an integer from 1 to 9"
        );
    }

    #[test]
    fn keys_no_row_reads_are_unknown_but_ignored_ones_are_not() {
        let (_, unknown) = read(
            &[("TOY_OLD", "1"), ("TOY_AMOUNTS", "1"), ("OTHER", "1")],
            &[("old", "1"), ("loop.perod", "1s")],
        )
        .unwrap();
        assert_eq!(
            unknown.log_line().unwrap().to_string(),
            "action: config | result: success | warning: unknown keys ignored | file: toy.yaml | file_keys: loop.perod | env_vars: TOY_AMOUNTS"
        );
    }

    #[test]
    fn config_line_in_table_order() {
        let (toy, _) = read(&[("TOY_LOOP_PERIOD", "150ms")], &[]).unwrap();
        assert_eq!(
            TOY.log_line(&toy).to_string(),
            "action: config | result: success | amount: 5 | period: 150ms"
        );
    }

    #[test]
    fn help_aligns_names_defaults_and_lines() {
        assert_eq!(
            TOY.help(),
            "  TOY_AMOUNT       amount       5   how many\n  \
               TOY_LOOP_PERIOD  loop.period  1s  how often\n  \
               TOY_OLD          old              accepted and ignored\n"
        );
        let same = Table {
            env_names: EnvNames::Key,
            ..TOY
        };
        assert_eq!(
            same.help(),
            "  amount       5   how many\n  \
               loop.period  1s  how often\n  \
               old              accepted and ignored\n"
        );
    }
}
