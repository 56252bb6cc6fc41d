//! Configuration layering: environment variable > config file > built-in default.
//!
//! Both programs read their keys through [`Layers`], so precedence, parsing and
//! error messages are the same everywhere. A value that does not parse is a
//! [`ConfigError`] naming the key, the value and where it came from. Keys
//! that no setting reads are collected as [`UnknownKeys`] for one warning.
//!
//! - `file`: reading the file safely (regular files only, bounded, BOM).
//! - `quote`: user text cut and escaped for one-line messages.
//! - `unknown`: the unknown-keys warning.
//! - `settings`: a program's settings declared once, in one table, and
//!   how the table reads them.
//! - `reload`: what a reload changes, and what waits for a restart.

mod file;
mod quote;
mod reload;
mod settings;
mod unknown;

pub use file::MAX_FILE_BYTES;
pub use reload::Reloaded;
pub use settings::{EnvNames, Reload, Setting, Table};
pub use unknown::UnknownKeys;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use log::LevelFilter;

use quote::{one_line, quote};

/// A configuration problem, worded for the person who wrote the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A key whose value does not parse.
    Invalid {
        /// The key as the user wrote it (env var name or file key).
        key: String,
        /// The offending value.
        value: String,
        /// Where it came from: `environment` or the file's path.
        origin: String,
        /// What was expected.
        expected: String,
    },
    /// The config file exists but cannot be read or parsed.
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid {
                key,
                value,
                origin,
                expected,
            } => write!(
                f,
                "invalid value for {key}: {} (from {}): expected {expected}",
                quote(value),
                one_line(origin)
            ),
            ConfigError::File { path, reason } => write!(
                f,
                "cannot use config file {}: {reason}",
                one_line(&path.display().to_string())
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Where a configuration value was found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Environment,
    File,
    Default,
}

/// What a config file holds: its keys as the format normalises them, and
/// the parts of it that are ignored as a whole (INI sections other than
/// `[DEFAULT]`), as they are named in the warning.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileValues {
    /// Key to value.
    pub values: HashMap<String, String>,
    /// `[name] section` for each section that is not read.
    pub ignored_parts: Vec<String>,
}

impl From<HashMap<String, String>> for FileValues {
    fn from(values: HashMap<String, String>) -> Self {
        FileValues {
            values,
            ignored_parts: Vec::new(),
        }
    }
}

/// The layers of one program's configuration.
#[derive(Debug, Default, Clone)]
pub struct Layers {
    env: HashMap<String, String>,
    file: FileValues,
    file_path: PathBuf,
    /// Whether the file was there to read (a missing default file is no
    /// error: its layer is then empty).
    file_found: bool,
}

impl Layers {
    /// Layers from explicit environment and file contents (file keys as the
    /// file format normalises them).
    pub fn new(
        env: impl IntoIterator<Item = (String, String)>,
        file: impl Into<FileValues>,
        file_path: impl Into<PathBuf>,
    ) -> Self {
        Layers {
            // An empty variable counts as unset, as `VAR=` in a shell or compose file means.
            env: env.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
            file: file.into(),
            file_path: file_path.into(),
            file_found: true,
        }
    }

    /// Layers from the process environment and the given file. A missing
    /// file is fine when `required` is false (the defaults apply); anything
    /// but a regular file of at most [`MAX_FILE_BYTES`] is an error.
    pub fn load(
        path: &Path,
        required: bool,
        parse: fn(&str) -> Result<FileValues, String>,
    ) -> Result<Self, ConfigError> {
        let file_error = |reason| ConfigError::File {
            path: path.to_owned(),
            reason,
        };
        let text = file::read_text(path, required).map_err(file_error)?;
        let file = match &text {
            Some(text) => parse(text).map_err(file_error)?,
            None => FileValues::default(),
        };
        // A value that is not UTF-8 is kept (lossily) so that it fails to
        // parse with its key named, rather than vanish and let the default apply.
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())));
        Ok(Layers {
            file_found: text.is_some(),
            ..Layers::new(env, file, path)
        })
    }

    /// Whether the config file was there to read.
    pub fn file_found(&self) -> bool {
        self.file_found
    }

    /// What the file and the environment hold that is not `known` (a
    /// table's keys and variables): file keys and ignored sections, and
    /// environment variables starting with `env_prefix` (so that another
    /// program's variables are not reported).
    pub fn unknown(&self, env_prefix: &str, known: &BTreeSet<String>) -> UnknownKeys {
        let unknown = |key: &&String| !known.contains(key.as_str());
        let mut in_file: Vec<String> = self.file.values.keys().filter(unknown).cloned().collect();
        in_file.sort();
        in_file.extend(self.file.ignored_parts.iter().cloned());
        let mut in_env: Vec<String> = self
            .env
            .keys()
            .filter(|k| k.starts_with(env_prefix))
            .filter(unknown)
            .cloned()
            .collect();
        in_env.sort();
        UnknownKeys {
            file: self.file_path.display().to_string(),
            in_file,
            in_env,
        }
    }

    /// The value of a key, parsed: the environment variable `env_key` if set,
    /// else `file_key` in the file, else `default`.
    pub fn get<T>(
        &self,
        env_key: &str,
        file_key: &str,
        default: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let (text, origin) = if let Some(v) = self.env.get(env_key) {
            (v.as_str(), Origin::Environment)
        } else if let Some(v) = self.file.values.get(file_key) {
            (v.as_str(), Origin::File)
        } else {
            (default, Origin::Default)
        };
        parse(text.trim()).map_err(|expected| ConfigError::Invalid {
            key: match origin {
                Origin::Environment => env_key.to_owned(),
                _ => file_key.to_owned(),
            },
            value: text.to_owned(),
            origin: match origin {
                Origin::Environment => "environment".to_owned(),
                Origin::File => self.file_path.display().to_string(),
                Origin::Default => "built-in default".to_owned(),
            },
            expected,
        })
    }
}

/// A duration as configured: its value and the text it was written as, which
/// is how the config line prints it (`150ms`, `5s`, `1m30s`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Period {
    /// The value.
    pub duration: Duration,
    text: String,
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a duration must look like, for error messages.
const DURATION_SHAPE: &str = "a duration such as 150ms, 5s or 1m30s, at most 87600h";

/// Ten years: longer waits are certainly typos, and deadlines computed from
/// them must stay far from the end of the clock.
const MAX_DURATION: Duration = Duration::from_secs(87_600 * 3600);

/// Shortest timeout accepted: the poll waits in whole milliseconds, and a
/// timeout of 0 would expire before any peer could answer.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// Parses a duration written as Go's `time.ParseDuration` accepts it
/// (the course's client is in Go): `300ms`, `1.5s`, `1m30s`, `2h`, `0`.
pub fn parse_period(text: &str) -> Result<Period, String> {
    let duration = parse_duration(text)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| DURATION_SHAPE.to_owned())?;
    Ok(Period {
        duration,
        text: text.to_owned(),
    })
}

/// A duration that bounds how long something may take (a timeout, a retry
/// window): as [`parse_period`], but at least 1ms, since with 0 nothing
/// could ever succeed.
pub fn parse_timeout(text: &str) -> Result<Period, String> {
    const SHAPE: &str =
        "a duration from 1ms to 87600h such as 150ms, 5s or 1m30s (0 would fail every time)";
    parse_period(text)
        .ok()
        .filter(|p| p.duration >= MIN_TIMEOUT)
        .ok_or_else(|| SHAPE.to_owned())
}

fn parse_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// A TCP port, 1 to 65535.
pub fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err("a port number from 1 to 65535".to_owned()),
    }
}

/// An integer in `min..=max`.
pub fn parse_in_range<T>(text: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    match text.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("an integer from {min} to {max}")),
    }
}

/// A log level as configured; prints the way it was written, upper-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredLevel {
    /// The level filter in force.
    pub filter: LevelFilter,
    text: String,
}

/// `INFO`, both programs' default.
impl Default for ConfiguredLevel {
    fn default() -> Self {
        ConfiguredLevel {
            filter: LevelFilter::Info,
            text: "INFO".to_owned(),
        }
    }
}

impl fmt::Display for ConfiguredLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `ERROR`, `WARNING`/`WARN`, `INFO` or `DEBUG`, any case.
pub fn parse_level(text: &str) -> Result<ConfiguredLevel, String> {
    let filter = match text.trim().to_ascii_uppercase().as_str() {
        "ERROR" => LevelFilter::Error,
        "WARNING" | "WARN" => LevelFilter::Warn,
        "INFO" => LevelFilter::Info,
        "DEBUG" => LevelFilter::Debug,
        _ => return Err("one of ERROR, WARNING, INFO, DEBUG".to_owned()),
    };
    Ok(ConfiguredLevel {
        filter,
        text: text.to_ascii_uppercase(),
    })
}

/// Parses the `[DEFAULT]` section of an INI file the way Python's
/// `configparser` reads the course's `config.ini`: `key = value` or
/// `key: value`, keys case-insensitive (returned upper-cased), `#`/`;` comments.
/// Other sections are skipped and named in `ignored_parts`.
pub fn parse_ini(text: &str) -> Result<FileValues, String> {
    let mut values = HashMap::new();
    let mut ignored_parts = Vec::new();
    let mut in_default = true;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            let name = section
                .strip_suffix(']')
                .ok_or_else(|| format!("line {}: unterminated section header", number + 1))?;
            let name = name.trim();
            in_default = name == "DEFAULT";
            let part = format!("[{name}] section");
            if !in_default && !ignored_parts.contains(&part) {
                ignored_parts.push(part);
            }
            continue;
        }
        let split = line
            .find(['=', ':'])
            .ok_or_else(|| format!("line {}: expected `key = value`", number + 1))?;
        let (key, value) = (line[..split].trim(), line[split + 1..].trim());
        if key.is_empty() {
            return Err(format!("line {}: empty key", number + 1));
        }
        if in_default {
            values.insert(key.to_ascii_uppercase(), value.to_owned());
        }
    }
    Ok(FileValues {
        values,
        ignored_parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(env: &[(&str, &str)], file: &[(&str, &str)]) -> Layers {
        Layers::new(
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            file.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
            "config.ini",
        )
    }

    fn known(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn environment_beats_file_beats_default() {
        let port = |l: &Layers| l.get("SERVER_PORT", "SERVER_PORT", "12345", parse_port);
        assert_eq!(port(&layers(&[], &[])), Ok(12345));
        assert_eq!(port(&layers(&[], &[("SERVER_PORT", "7000")])), Ok(7000));
        assert_eq!(
            port(&layers(
                &[("SERVER_PORT", "8000")],
                &[("SERVER_PORT", "7000")]
            )),
            Ok(8000)
        );
        assert_eq!(
            port(&layers(&[("SERVER_PORT", "")], &[("SERVER_PORT", "7000")])),
            Ok(7000),
            "an empty variable counts as unset"
        );
    }

    #[test]
    fn errors_name_key_value_and_origin() {
        let err = layers(&[("SERVER_PORT", "abc")], &[])
            .get("SERVER_PORT", "SERVER_PORT", "12345", parse_port)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value for SERVER_PORT: \"abc\" (from environment): expected a port number from 1 to 65535"
        );
        let err = layers(&[], &[("loop.period", "soon")])
            .get("CLI_LOOP_PERIOD", "loop.period", "1s", parse_period)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("loop.period: \"soon\" (from config.ini)"),
            "{err}"
        );
    }

    #[test]
    fn long_values_are_cut_in_errors() {
        let value = "9".repeat(100_000);
        let err = layers(&[("SERVER_PORT", &value)], &[])
            .get("SERVER_PORT", "SERVER_PORT", "12345", parse_port)
            .unwrap_err()
            .to_string();
        let shown = format!(
            "SERVER_PORT: \"{}\"... (100000 characters) (from",
            "9".repeat(64)
        );
        assert!(err.contains(&shown), "{err}");
        assert!(err.len() < 200, "{} bytes: {err}", err.len());
        let err = layers(&[("SERVER_PORT", "1\n2")], &[])
            .get("SERVER_PORT", "SERVER_PORT", "12345", parse_port)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"1\\n2\""), "{err}");
    }

    #[test]
    fn unknown_keys_are_what_is_not_known() {
        let mut file = parse_ini(
            "[DEFAULT]\nSERVER_PROT = 1\nSERVER_IP = x\nSERVER_PORT = 2\n[b]\nk=1\n[a]\n",
        )
        .unwrap();
        file.values.insert("LOGGING_LEVEL".into(), "INFO".into());
        let env = [
            ("SERVER_TYPO", "1"),
            ("SERVER_PORT", "3"),
            ("CLI_ID", "4"),
            ("SERVER_EMPTY", ""),
            ("HOME", "/"),
        ];
        let layers = Layers::new(
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            file,
            "config.ini",
        );
        let unknown = layers.unknown(
            "SERVER_",
            &known(&["SERVER_PORT", "LOGGING_LEVEL", "SERVER_IP"]),
        );
        assert_eq!(
            unknown,
            UnknownKeys {
                file: "config.ini".into(),
                in_file: vec![
                    "SERVER_PROT".into(),
                    "[b] section".into(),
                    "[a] section".into()
                ],
                in_env: vec!["SERVER_TYPO".into()],
            }
        );
        let layers = Layers::new(Vec::new(), parse_ini("A = 1\n").unwrap(), "c.ini");
        assert!(layers.unknown("X_", &known(&["X_A", "A"])).is_empty());
    }

    #[test]
    fn timeouts_must_be_able_to_succeed() {
        assert_eq!(
            parse_timeout("1ms").unwrap().duration,
            Duration::from_millis(1)
        );
        assert_eq!(parse_timeout("5s").unwrap().to_string(), "5s");
        for never in ["0", "0s", "0ms", "999us", "1ns"] {
            let err = parse_timeout(never).unwrap_err();
            assert!(err.contains("from 1ms"), "{never}: {err}");
        }
        assert!(parse_timeout("87601h").is_err());
        assert!(parse_period("0").is_ok(), "a period of 0 means no wait");
    }

    #[test]
    fn durations_as_go_writes_them() {
        let d = |t| parse_duration(t);
        assert_eq!(d("150ms"), Some(Duration::from_millis(150)));
        assert_eq!(d("5s"), Some(Duration::from_secs(5)));
        assert_eq!(d("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(d("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(d("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(d("250us"), Some(Duration::from_micros(250)));
        assert_eq!(d("0"), Some(Duration::ZERO));
        for bad in ["", "5", "s", "-1s", "5 s", "1x", "1..5s", "soon"] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
        assert_eq!(parse_period("1m30s").unwrap().to_string(), "1m30s");
        assert!(parse_period("87600h").is_ok());
        assert!(parse_period("87601h").is_err());
        assert!(parse_period("100000000000000000000h").is_err());
    }

    #[test]
    fn numbers_ports_and_levels() {
        assert_eq!(parse_port("0"), Err("a port number from 1 to 65535".into()));
        assert!(parse_port("65536").is_err());
        assert_eq!(parse_in_range("5", 1u32, 4096), Ok(5));
        assert_eq!(
            parse_in_range("-1", 1u32, 4096),
            Err("an integer from 1 to 4096".into())
        );
        assert_eq!(parse_level("warn").unwrap().to_string(), "WARN");
        let filter = |text| parse_level(text).map(|l| l.filter);
        assert_eq!(filter("info"), Ok(LevelFilter::Info));
        assert_eq!(filter(" Warning "), Ok(LevelFilter::Warn));
        assert_eq!(filter("WARN"), Ok(LevelFilter::Warn));
        assert_eq!(filter("debug"), Ok(LevelFilter::Debug));
        assert_eq!(filter("ERROR"), Ok(LevelFilter::Error));
        assert!(filter("").is_err());
        assert_eq!(
            parse_level("LOUD"),
            Err("one of ERROR, WARNING, INFO, DEBUG".into())
        );
    }

    #[test]
    fn ini_default_section_like_configparser() {
        let text = "# comment\n[DEFAULT]\nSERVER_PORT = 12345\nserver_ip: server\n; other\n\n[other]\nSERVER_PORT = 1\n";
        let parsed = parse_ini(text).unwrap();
        let values = &parsed.values;
        assert_eq!(values.get("SERVER_PORT").map(String::as_str), Some("12345"));
        assert_eq!(values.get("SERVER_IP").map(String::as_str), Some("server"));
        assert_eq!(values.len(), 2);
        assert_eq!(parsed.ignored_parts, ["[other] section"]);
        assert_eq!(
            parse_ini("[DEFAULT]\njunk\n"),
            Err("line 2: expected `key = value`".into())
        );
        assert!(parse_ini("[DEFAULT\n").is_err());
    }
}
