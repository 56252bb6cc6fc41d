//! The server's settings: `SERVER_*` keys from the environment, the
//! `[DEFAULT]` section of `config.ini`, or built-in defaults.

use std::path::Path;

use app::config::{
    parse_in_range, parse_ini, parse_level, parse_period, parse_port, parse_timeout, ConfigError,
    ConfiguredLevel, Layers, Period, UnknownKeys,
};
use app::{LogLine, Outcome};

/// The config file read from the working directory unless `--config` names another.
pub const DEFAULT_FILE: &str = "config.ini";

/// Environment variables with this prefix are the server's: an unknown one
/// is reported (`LOGGING_LEVEL` has no prefix, and the client's `CLI_*` are
/// none of the server's business).
const ENV_PREFIX: &str = "SERVER_";

/// Keys known and ignored without a word: the course's `config.ini` has
/// `SERVER_IP`, which the server has no use for (it listens on all interfaces).
const IGNORED_KEYS: &[&str] = &["SERVER_IP"];

/// Descriptors kept free for the listener, the poll, the signal pipe and logging
/// when the connection cap is derived from the fd limit.
const RESERVED_FDS: u64 = 16;

/// Every setting in force, after layering.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// TCP port, bound on all interfaces.
    pub port: u16,
    /// `listen(2)` backlog.
    pub listen_backlog: u32,
    /// Log level.
    pub logging_level: ConfiguredLevel,
    /// How long exchanges in flight may finish after SIGTERM.
    pub shutdown_grace: Period,
    /// Longest message accepted, `\n` included.
    pub max_message_bytes: usize,
    /// Total time a connection has to deliver its message (not reset per byte).
    pub read_timeout: Period,
    /// Total time a peer has to take its echo.
    pub write_timeout: Period,
    /// Concurrent connections; above it the server stops accepting for a while.
    pub max_connections: usize,
    /// Messages answered per connection before closing it; 0 means no limit
    /// (a persistent connection). The course's protocol is 1.
    pub messages_per_connection: u64,
    /// Bytes all connections may buffer together (partial messages, pending
    /// echoes); at the limit the server stops reading partial messages.
    pub max_buffered_bytes: usize,
    /// Keys given but not read, for the warning logged after the config line.
    pub unknown_keys: UnknownKeys,
}

impl ServerConfig {
    /// Reads the settings from the environment and `path`.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        Self::from_layers(&Layers::load(path, required, parse_ini)?)
    }

    /// Reads the settings from explicit layers.
    pub fn from_layers(layers: &Layers) -> Result<Self, ConfigError> {
        let fd_cap = fd_limit().saturating_sub(RESERVED_FDS).max(1);
        let max_connections = layers.get(
            "SERVER_MAX_CONNECTIONS",
            "SERVER_MAX_CONNECTIONS",
            "auto",
            |t| {
                if t.eq_ignore_ascii_case("auto") {
                    Ok(usize::try_from(fd_cap).unwrap_or(usize::MAX))
                } else {
                    parse_in_range(t, 1usize, 1 << 24)
                }
            },
        )?;
        let mut config = ServerConfig {
            port: layers.get("SERVER_PORT", "SERVER_PORT", "12345", parse_port)?,
            listen_backlog: layers.get(
                "SERVER_LISTEN_BACKLOG",
                "SERVER_LISTEN_BACKLOG",
                "5",
                |t| parse_in_range(t, 1u32, 65535),
            )?,
            logging_level: layers.get("LOGGING_LEVEL", "LOGGING_LEVEL", "INFO", parse_level)?,
            // 0 is no grace: what a second signal does.
            shutdown_grace: layers.get(
                "SERVER_SHUTDOWN_GRACE",
                "SERVER_SHUTDOWN_GRACE",
                "500ms",
                parse_period,
            )?,
            max_message_bytes: layers.get(
                "SERVER_MAX_MESSAGE_BYTES",
                "SERVER_MAX_MESSAGE_BYTES",
                "65536",
                |t| parse_in_range(t, 1usize, 1 << 30),
            )?,
            read_timeout: layers.get(
                "SERVER_READ_TIMEOUT",
                "SERVER_READ_TIMEOUT",
                "5s",
                parse_timeout,
            )?,
            write_timeout: layers.get(
                "SERVER_WRITE_TIMEOUT",
                "SERVER_WRITE_TIMEOUT",
                "5s",
                parse_timeout,
            )?,
            max_connections,
            messages_per_connection: layers.get(
                "SERVER_MESSAGES_PER_CONNECTION",
                "SERVER_MESSAGES_PER_CONNECTION",
                "1",
                |t| parse_in_range(t, 0u64, u64::MAX),
            )?,
            max_buffered_bytes: layers.get(
                "SERVER_MAX_BUFFERED_BYTES",
                "SERVER_MAX_BUFFERED_BYTES",
                "67108864",
                |t| parse_in_range(t, 1usize, usize::MAX),
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
            .field("port", self.port)
            .field("listen_backlog", self.listen_backlog)
            .field("logging_level", &self.logging_level)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("max_message_bytes", self.max_message_bytes)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("max_connections", self.max_connections)
            .field("messages_per_connection", self.messages_per_connection)
            .field("max_buffered_bytes", self.max_buffered_bytes)
    }

    /// The warning naming unknown keys, if any; logged right after the config line.
    pub fn warning_line(&self) -> Option<LogLine> {
        self.unknown_keys.log_line()
    }
}

/// The soft limit on open file descriptors.
fn fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and reads nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur
    } else {
        1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(env: &[(&str, &str)], ini: &str) -> Result<ServerConfig, ConfigError> {
        let file = parse_ini(ini).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        ServerConfig::from_layers(&Layers::new(env, file, "config.ini"))
    }

    #[test]
    fn defaults_and_contract_config_line() {
        let c = config(&[], "").unwrap();
        assert_eq!((c.port, c.listen_backlog), (12345, 5));
        assert!(c.log_line().to_string().starts_with(
            "action: config | result: success | port: 12345 | listen_backlog: 5 | logging_level: INFO | shutdown_grace: 500ms"
        ));
    }

    #[test]
    fn env_over_ini_over_default() {
        let ini = "[DEFAULT]\nSERVER_PORT = 7000\nSERVER_IP = server\nLOGGING_LEVEL = debug\nSERVER_LISTEN_BACKLOG = 9\n";
        let c = config(&[("SERVER_PORT", "8000")], ini).unwrap();
        assert_eq!((c.port, c.listen_backlog), (8000, 9));
        assert_eq!(c.logging_level.to_string(), "DEBUG");
    }

    #[test]
    fn bad_values_name_the_key() {
        for (key, value) in [
            ("SERVER_PORT", "abc"),
            ("SERVER_LISTEN_BACKLOG", "-1"),
            ("LOGGING_LEVEL", "LOUD"),
            ("SERVER_SHUTDOWN_GRACE", "soon"),
            ("SERVER_MAX_MESSAGE_BYTES", "0"),
            ("SERVER_MAX_CONNECTIONS", "many"),
            ("SERVER_READ_TIMEOUT", "0"),
            ("SERVER_WRITE_TIMEOUT", "0s"),
        ] {
            let err = config(&[(key, value)], "").unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(value), "{err}");
        }
    }

    #[test]
    fn zero_grace_means_none() {
        let c = config(&[("SERVER_SHUTDOWN_GRACE", "0")], "").unwrap();
        assert!(c.shutdown_grace.duration.is_zero());
    }

    #[test]
    fn unknown_keys_warned_known_ones_not() {
        let course = "[DEFAULT]\nSERVER_PORT = 12345\nSERVER_IP = server\nSERVER_LISTEN_BACKLOG = 5\nLOGGING_LEVEL = INFO\n";
        let env = [
            ("SERVER_IP", "x"),
            ("CLI_ID", "1"),
            ("LOGGING_LEVEL", "INFO"),
        ];
        assert!(config(&env, course).unwrap().warning_line().is_none());
        let every_setting = [
            "SERVER_PORT = 1",
            "SERVER_LISTEN_BACKLOG = 1",
            "LOGGING_LEVEL = INFO",
            "SERVER_SHUTDOWN_GRACE = 1s",
            "SERVER_MAX_MESSAGE_BYTES = 10",
            "SERVER_READ_TIMEOUT = 1s",
            "SERVER_WRITE_TIMEOUT = 1s",
            "SERVER_MAX_CONNECTIONS = 10",
            "SERVER_MESSAGES_PER_CONNECTION = 1",
        ]
        .join("\n");
        assert!(config(&[], &every_setting)
            .unwrap()
            .warning_line()
            .is_none());
        let typo = "[DEFAULT]\nSERVER_PROT = 7000\n[server]\nSERVER_PORT = 7000\n";
        let line = config(&[("SERVER_LISTEN_BACKLOG_", "9")], typo)
            .unwrap()
            .warning_line()
            .unwrap()
            .to_string();
        assert_eq!(
            line,
            "action: config | result: success | warning: unknown keys ignored | file: config.ini | file_keys: SERVER_PROT, [server] section | env_vars: SERVER_LISTEN_BACKLOG_"
        );
    }
}
