//! The client's settings: `CLI_*` variables, `config.yaml`, or built-in
//! defaults. A YAML key `a.b` is the variable `CLI_A_B`.

use std::path::Path;

use reactor::config::{
    parse_in_range, parse_level, parse_period, parse_yaml, ConfigError, ConfiguredLevel, Layers,
    Period,
};
use reactor::{LogLine, Outcome};

/// The config file read from the working directory unless `--config` names another.
pub const DEFAULT_FILE: &str = "config.yaml";

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
    let port = reactor::config::parse_port(port).map_err(|_| SHAPE.to_owned())?;
    let valid_host = !host.is_empty()
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
}

impl ClientConfig {
    /// Reads the settings from the environment and `path`.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        Self::from_layers(&Layers::load(path, required, parse_yaml)?)
    }

    /// Reads the settings from explicit layers.
    pub fn from_layers(layers: &Layers) -> Result<Self, ConfigError> {
        Ok(ClientConfig {
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
            loop_period: layers.get("CLI_LOOP_PERIOD", "loop.period", "1s", parse_period)?,
            log_level: layers.get("CLI_LOG_LEVEL", "log.level", "INFO", parse_level)?,
            connect_window: layers.get(
                "CLI_SERVER_CONNECT_WINDOW",
                "server.connect_window",
                "10s",
                parse_period,
            )?,
            response_timeout: layers.get(
                "CLI_SERVER_RESPONSE_TIMEOUT",
                "server.response_timeout",
                "5s",
                parse_period,
            )?,
        })
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
        ] {
            let err = config(&[(key, value)], "").unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(value), "{err}");
        }
        let err = config(&[], "loop:\n  amount: many\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("loop.amount") && err.contains("config.yaml"),
            "{err}"
        );
    }
}
