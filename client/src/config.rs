//! The client's settings: `CLI_*` variables, `config.yaml`, or built-in
//! defaults. A YAML key `a.b` is the variable `CLI_A_B`.

use std::path::Path;

use app::config::{
    parse_in_range, parse_level, parse_period, parse_timeout, ConfigError, ConfiguredLevel, Layers,
    Period, UnknownKeys,
};
use app::{LogLine, Outcome};

use crate::yaml::parse_yaml;

/// The config file read from the working directory unless `--config` names another.
pub const DEFAULT_FILE: &str = "config.yaml";

/// Environment variables with this prefix are the client's: an unknown one
/// is reported (the server's `SERVER_*` are not looked at).
const ENV_PREFIX: &str = "CLI_";

/// Keys known and ignored without a word: the course's `config.yaml` has
/// `batch.maxAmount` (a later exercise's setting), which the Go client would
/// also take from `CLI_BATCH_MAXAMOUNT`.
const IGNORED_KEYS: &[&str] = &["batch.maxAmount", "CLI_BATCH_MAXAMOUNT"];

/// `host:port` of the server; the host is resolved on every connection attempt
/// so that a restarted server container is found under its new address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// Name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl std::fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

fn parse_address(text: &str) -> Result<ServerAddress, String> {
    const SHAPE: &str = "host:port, such as server:12345 or [::1]:12345";
    let (host, port) = text.rsplit_once(':').ok_or(SHAPE)?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']').ok_or(SHAPE)?,
        None if host.contains(':') => return Err(SHAPE.to_owned()),
        None => host,
    };
    let port = app::config::parse_port(port).map_err(|_| SHAPE.to_owned())?;
    // 253 characters is the longest name DNS can carry.
    let valid_host = (1..=253).contains(&host.len())
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if !valid_host {
        return Err(SHAPE.to_owned());
    }
    Ok(ServerAddress {
        host: host.to_owned(),
        port,
    })
}

fn parse_id(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if valid {
        Ok(text.to_owned())
    } else {
        Err("1 to 64 letters, digits, '.', '-' or '_'".to_owned())
    }
}

/// Every setting in force, after layering.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Client id, part of every message.
    pub id: String,
    /// Where the server listens.
    pub server_address: ServerAddress,
    /// How many messages to send.
    pub loop_amount: u64,
    /// Wait between messages.
    pub loop_period: Period,
    /// Log level.
    pub log_level: ConfiguredLevel,
    /// How long one message may keep retrying to connect (the server may
    /// start after the client) before the client gives up.
    pub connect_window: Period,
    /// How long the answer may take once the message is sent.
    pub response_timeout: Period,
    /// Keys given but not read, for the warning logged after the config line.
    pub unknown_keys: UnknownKeys,
}

impl ClientConfig {
    /// Reads the settings from the environment and `path`.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        Self::from_layers(&Layers::load(path, required, parse_yaml)?)
    }

    /// Reads the settings from explicit layers.
    pub fn from_layers(layers: &Layers) -> Result<Self, ConfigError> {
        let mut config = ClientConfig {
            id: layers.get("CLI_ID", "id", "1", parse_id)?,
            server_address: layers.get(
                "CLI_SERVER_ADDRESS",
                "server.address",
                "localhost:12345",
                parse_address,
            )?,
            loop_amount: layers.get("CLI_LOOP_AMOUNT", "loop.amount", "5", |t| {
                parse_in_range(t, 0u64, u64::MAX)
            })?,
            // 0 is no wait between messages.
            loop_period: layers.get("CLI_LOOP_PERIOD", "loop.period", "1s", parse_period)?,
            log_level: layers.get("CLI_LOG_LEVEL", "log.level", "INFO", parse_level)?,
            connect_window: layers.get(
                "CLI_SERVER_CONNECT_WINDOW",
                "server.connect_window",
                "10s",
                parse_timeout,
            )?,
            response_timeout: layers.get(
                "CLI_SERVER_RESPONSE_TIMEOUT",
                "server.response_timeout",
                "5s",
                parse_timeout,
            )?,
            unknown_keys: UnknownKeys::default(),
        };
        // Only now has every setting been read: what is left is unknown.
        config.unknown_keys = layers.unknown(ENV_PREFIX, IGNORED_KEYS);
        Ok(config)
    }

    /// The `action: config` line: the values in force.
    pub fn log_line(&self) -> LogLine {
        LogLine::new("config", Outcome::Success)
            .field("client_id", &self.id)
            .field("server_address", &self.server_address)
            .field("loop_amount", self.loop_amount)
            .field("loop_period", &self.loop_period)
            .field("log_level", &self.log_level)
            .field("connect_window", &self.connect_window)
            .field("response_timeout", &self.response_timeout)
    }

    /// The warning naming unknown keys, if any; logged right after the config line.
    pub fn warning_line(&self) -> Option<LogLine> {
        self.unknown_keys.log_line()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(env: &[(&str, &str)], yaml: &str) -> Result<ClientConfig, ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        ClientConfig::from_layers(&Layers::new(env, parse_yaml(yaml).unwrap(), "config.yaml"))
    }

    const COURSE_YAML: &str = "server:\n  address: \"server:12345\"\nloop:\n  amount: 5\n  period: \"5s\"\nlog:\n  level: \"INFO\"\nbatch:\n  maxAmount: 10\n";

    #[test]
    fn course_file_gives_the_contract_config_line() {
        let c = config(&[("CLI_ID", "1")], COURSE_YAML).unwrap();
        assert!(c.log_line().to_string().starts_with(
            "action: config | result: success | client_id: 1 | server_address: server:12345 | loop_amount: 5 | loop_period: 5s | log_level: INFO"
        ));
    }

    #[test]
    fn env_over_yaml_over_default() {
        let c = config(&[], "").unwrap();
        assert_eq!(c.server_address.to_string(), "localhost:12345");
        assert_eq!((c.id.as_str(), c.loop_amount), ("1", 5));
        let c = config(
            &[("CLI_LOOP_PERIOD", "150ms"), ("CLI_ID", "7")],
            COURSE_YAML,
        )
        .unwrap();
        assert_eq!(c.loop_period.to_string(), "150ms");
        assert_eq!(c.id, "7");
        let c = config(&[("CLI_SERVER_ADDRESS", "[::1]:9")], "").unwrap();
        assert_eq!(
            (c.server_address.host.as_str(), c.server_address.port),
            ("::1", 9)
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        for (key, value) in [
            ("CLI_ID", "a b"),
            ("CLI_SERVER_ADDRESS", "server"),
            ("CLI_SERVER_ADDRESS", "server:0"),
            ("CLI_SERVER_ADDRESS", ":12345"),
            ("CLI_LOOP_AMOUNT", "-1"),
            ("CLI_LOOP_PERIOD", "5"),
            ("CLI_LOG_LEVEL", "LOUD"),
            ("CLI_SERVER_CONNECT_WINDOW", "later"),
            ("CLI_SERVER_CONNECT_WINDOW", "0"),
            ("CLI_SERVER_RESPONSE_TIMEOUT", "0s"),
        ] {
            let err = config(&[(key, value)], "").unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(value), "{err}");
        }
        let longest = format!("{}:1", "h".repeat(253));
        assert!(config(&[("CLI_SERVER_ADDRESS", &longest)], "").is_ok());
        let too_long = format!("{}:1", "h".repeat(254));
        let err = config(&[("CLI_SERVER_ADDRESS", &too_long)], "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("(256 characters)"), "{err}");
        let err = config(&[], "loop:\n  amount: many\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("loop.amount") && err.contains("config.yaml"),
            "{err}"
        );
    }

    #[test]
    fn zero_period_means_no_wait() {
        let c = config(&[("CLI_LOOP_PERIOD", "0")], "").unwrap();
        assert!(c.loop_period.duration.is_zero());
    }

    #[test]
    fn unknown_keys_warned_known_ones_not() {
        let env = [
            ("CLI_ID", "1"),
            ("CLI_BATCH_MAXAMOUNT", "3"),
            ("SERVER_PORT", "1"),
        ];
        assert!(config(&env, COURSE_YAML).unwrap().warning_line().is_none());
        let every_setting = "id: 2\nserver:\n  address: a:1\n  connect_window: 1s\n  response_timeout: 1s\nloop:\n  amount: 1\n  period: 1s\nlog:\n  level: INFO\n";
        assert!(config(&[], every_setting).unwrap().warning_line().is_none());
        let typo = "server:\n  adress: a:1\nlog:\n  level: INFO\n  file: x\n";
        let line = config(&[("CLI_LOOP_AMMOUNT", "3")], typo)
            .unwrap()
            .warning_line()
            .unwrap()
            .to_string();
        assert_eq!(
            line,
            "action: config | result: success | warning: unknown keys ignored | file: config.yaml | file_keys: log.file, server.adress | env_vars: CLI_LOOP_AMMOUNT"
        );
    }
}
