//! Every setting declared once. A program lists its settings in one
//! [`Table`] of [`Setting`] rows (names, default, parser, help, whether a
//! reload may change it), and that table alone drives the lookup in the
//! layers, the defaults, the `--help` text, the `config` log line and the
//! test that holds the README to it: nothing about a setting is written twice,
//! so nothing can drift.

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

impl Reload {
    /// `live` or `restart`, as the README's settings tables write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reload::Live => "live",
            Reload::Restart => "restart",
        }
    }
}

/// One setting of a program whose settings are the fields of `C`.
pub struct Setting<C> {
    /// The field's name in the `config` log line.
    pub name: &'static str,
    /// The environment variable.
    pub env: &'static str,
    /// The key in the config file.
    pub file: &'static str,
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
            .field("env", &self.env)
            .field("file", &self.file)
            .field("default", &self.default)
            .field("reload", &self.reload)
            .finish_non_exhaustive()
    }
}

/// A key known and ignored without a word (the course's files carry keys
/// the programs have no use for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ignored {
    /// The environment variable.
    pub env: &'static str,
    /// The key in the config file.
    pub file: &'static str,
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
    /// Keys known and ignored.
    pub ignored: &'static [Ignored],
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
            layers.get(setting.env, setting.file, setting.default, |text| {
                (setting.apply)(&mut config, text)
            })?;
        }
        let ignored: Vec<&str> = self
            .ignored
            .iter()
            .flat_map(|key| [key.env, key.file])
            .collect();
        // Only now has every setting been read: what is left is unknown.
        Ok((config, layers.unknown(self.env_prefix, &ignored)))
    }
}

impl<C> Table<C> {
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
        let same_names = self.settings.iter().all(|s| s.env == s.file)
            && self.ignored.iter().all(|k| k.env == k.file);
        let names = |env: &str, file: &str| {
            if same_names {
                vec![env.to_owned()]
            } else {
                vec![env.to_owned(), file.to_owned()]
            }
        };
        let mut rows: Vec<Vec<String>> = self
            .settings
            .iter()
            .map(|s| {
                let mut row = names(s.env, s.file);
                row.extend([s.default.to_owned(), s.help.to_owned()]);
                row
            })
            .collect();
        rows.extend(self.ignored.iter().map(|k| {
            let mut row = names(k.env, k.file);
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
        ignored: &[Ignored {
            env: "TOY_OLD",
            file: "old",
        }],
        settings: &[
            Setting {
                name: "amount",
                env: "TOY_AMOUNT",
                file: "amount",
                default: "5",
                reload: Reload::Restart,
                help: "how many",
                apply: |c, t| parse_in_range(t, 1, 9).map(|v| c.amount = v),
                show: |c| c.amount.to_string(),
            },
            Setting {
                name: "period",
                env: "TOY_LOOP_PERIOD",
                file: "loop.period",
                default: "1s",
                reload: Reload::Live,
                help: "how often",
                apply: |c, t| parse_period(t).map(|v| c.period = v),
                show: |c| c.period.to_string(),
            },
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
    }
}
