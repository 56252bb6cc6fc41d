//! The server's settings: `SERVER_*` keys from the environment, the
//! `[DEFAULT]` section of `config.ini`, or built-in defaults, each declared
//! once in [`TABLE`].

use app::config::{
    parse_in_range, parse_ini, parse_level, parse_period, parse_port, parse_timeout,
    ConfiguredLevel, Ignored, Period, Reload, Setting, Table,
};

/// Descriptors kept free for the listener, the poll, the signal pipe and logging
/// when the connection cap is derived from the fd limit.
const RESERVED_FDS: u64 = 16;

/// Every setting in force, after layering. [`TABLE`] fills it: a field
/// without a row there would keep its `Default` placeholder.
#[derive(Debug, Clone, Default)]
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
}

/// The server's settings, in the order of the `config` line (whose first
/// three fields are the contract's). Env var and `config.ini` key are the
/// same name. Live: what a reload (SIGHUP) applies to the running server
/// (to new connections and to the next deadline); the port and backlog
/// shape the listening socket, bound once.
pub const TABLE: Table<ServerConfig> = Table {
    file: "config.ini",
    format: parse_ini,
    // `LOGGING_LEVEL` has no prefix, and the client's `CLI_*` are none of
    // the server's business.
    env_prefix: "SERVER_",
    // The course's `config.ini` has it; the server listens on all interfaces.
    ignored: &[Ignored {
        env: "SERVER_IP",
        file: "SERVER_IP",
    }],
    settings: &[
        Setting {
            name: "port",
            env: "SERVER_PORT",
            file: "SERVER_PORT",
            default: "12345",
            reload: Reload::Restart,
            help: "TCP port on all interfaces, IPv6 and IPv4",
            apply: |c, t| parse_port(t).map(|v| c.port = v),
            show: |c| c.port.to_string(),
        },
        Setting {
            name: "listen_backlog",
            env: "SERVER_LISTEN_BACKLOG",
            file: "SERVER_LISTEN_BACKLOG",
            default: "5",
            reload: Reload::Restart,
            help: "listen(2) backlog",
            apply: |c, t| parse_in_range(t, 1, 65535).map(|v| c.listen_backlog = v),
            show: |c| c.listen_backlog.to_string(),
        },
        Setting {
            name: "logging_level",
            env: "LOGGING_LEVEL",
            file: "LOGGING_LEVEL",
            default: "INFO",
            reload: Reload::Live,
            help: "ERROR, WARNING, INFO or DEBUG",
            apply: |c, t| parse_level(t).map(|v| c.logging_level = v),
            show: |c| c.logging_level.to_string(),
        },
        Setting {
            name: "shutdown_grace",
            env: "SERVER_SHUTDOWN_GRACE",
            file: "SERVER_SHUTDOWN_GRACE",
            default: "500ms",
            reload: Reload::Live,
            // 0 is no grace: what a second signal does.
            help: "time in-flight exchanges get after SIGTERM (0 = none)",
            apply: |c, t| parse_period(t).map(|v| c.shutdown_grace = v),
            show: |c| c.shutdown_grace.to_string(),
        },
        Setting {
            name: "max_message_bytes",
            env: "SERVER_MAX_MESSAGE_BYTES",
            file: "SERVER_MAX_MESSAGE_BYTES",
            default: "65536",
            reload: Reload::Live,
            help: "longest message, newline included",
            apply: |c, t| parse_in_range(t, 1, 1 << 30).map(|v| c.max_message_bytes = v),
            show: |c| c.max_message_bytes.to_string(),
        },
        Setting {
            name: "read_timeout",
            env: "SERVER_READ_TIMEOUT",
            file: "SERVER_READ_TIMEOUT",
            default: "5s",
            reload: Reload::Live,
            help: "total time to deliver a message",
            apply: |c, t| parse_timeout(t).map(|v| c.read_timeout = v),
            show: |c| c.read_timeout.to_string(),
        },
        Setting {
            name: "write_timeout",
            env: "SERVER_WRITE_TIMEOUT",
            file: "SERVER_WRITE_TIMEOUT",
            default: "5s",
            reload: Reload::Live,
            help: "total time to take the echo",
            apply: |c, t| parse_timeout(t).map(|v| c.write_timeout = v),
            show: |c| c.write_timeout.to_string(),
        },
        Setting {
            name: "max_connections",
            env: "SERVER_MAX_CONNECTIONS",
            file: "SERVER_MAX_CONNECTIONS",
            default: "auto",
            reload: Reload::Live,
            help: "concurrent connections; auto = the fd limit minus a reserve",
            apply: |c, t| parse_max_connections(t).map(|v| c.max_connections = v),
            show: |c| c.max_connections.to_string(),
        },
        Setting {
            name: "messages_per_connection",
            env: "SERVER_MESSAGES_PER_CONNECTION",
            file: "SERVER_MESSAGES_PER_CONNECTION",
            default: "1",
            reload: Reload::Live,
            help: "messages answered before closing (0 = no limit)",
            apply: |c, t| parse_in_range(t, 0, u64::MAX).map(|v| c.messages_per_connection = v),
            show: |c| c.messages_per_connection.to_string(),
        },
        Setting {
            name: "max_buffered_bytes",
            env: "SERVER_MAX_BUFFERED_BYTES",
            file: "SERVER_MAX_BUFFERED_BYTES",
            default: "67108864",
            reload: Reload::Live,
            help: "bytes all connections buffer together",
            apply: |c, t| parse_in_range(t, 1, usize::MAX).map(|v| c.max_buffered_bytes = v),
            show: |c| c.max_buffered_bytes.to_string(),
        },
    ],
};

/// `auto` (the fd soft limit minus [`RESERVED_FDS`]) or a number.
fn parse_max_connections(text: &str) -> Result<usize, String> {
    if text.eq_ignore_ascii_case("auto") {
        let fd_cap = fd_limit().saturating_sub(RESERVED_FDS).max(1);
        Ok(usize::try_from(fd_cap).unwrap_or(usize::MAX))
    } else {
        parse_in_range(text, 1, 1 << 24)
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
    use app::config::{ConfigError, Layers, UnknownKeys};

    fn read(env: &[(&str, &str)], ini: &str) -> Result<(ServerConfig, UnknownKeys), ConfigError> {
        let file = parse_ini(ini).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        TABLE.read(&Layers::new(env, file, "config.ini"))
    }

    fn config(env: &[(&str, &str)], ini: &str) -> Result<ServerConfig, ConfigError> {
        read(env, ini).map(|(config, _)| config)
    }

    fn warning(env: &[(&str, &str)], ini: &str) -> Option<String> {
        read(env, ini).unwrap().1.log_line().map(|l| l.to_string())
    }

    #[test]
    fn defaults_and_contract_config_line() {
        let c = config(&[], "").unwrap();
        assert_eq!((c.port, c.listen_backlog), (12345, 5));
        assert!(TABLE.log_line(&c).to_string().starts_with(
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
        assert_eq!(warning(&env, course), None);
        let every_setting: String = TABLE
            .settings
            .iter()
            .map(|s| format!("{} = {}\n", s.file, s.default))
            .collect();
        let every_variable: Vec<_> = TABLE.settings.iter().map(|s| (s.env, s.default)).collect();
        assert_eq!(warning(&every_variable, &every_setting), None);
        let typo = "[DEFAULT]\nSERVER_PROT = 7000\n[server]\nSERVER_PORT = 7000\n";
        assert_eq!(
            warning(&[("SERVER_LISTEN_BACKLOG_", "9")], typo).unwrap(),
            "action: config | result: success | warning: unknown keys ignored | file: config.ini | file_keys: SERVER_PROT, [server] section | env_vars: SERVER_LISTEN_BACKLOG_"
        );
    }

    #[test]
    fn every_default_parses_and_shows_as_written() {
        let c = config(&[], "").unwrap();
        for setting in TABLE.settings.iter().filter(|s| s.default != "auto") {
            assert_eq!((setting.show)(&c), setting.default, "{}", setting.name);
        }
        assert!(c.max_connections >= 1);
    }

    #[test]
    fn a_reload_can_keep_every_running_value() {
        // A reload keeps a restart setting by applying the text it shows.
        for env in [
            &[][..],
            &[("SERVER_PORT", "65535"), ("SERVER_LISTEN_BACKLOG", "65535")],
        ] {
            let c = config(env, "").unwrap();
            assert_eq!(TABLE.cannot_keep(&c), Vec::<&str>::new(), "{env:?}");
        }
    }

    #[test]
    fn only_the_listening_socket_needs_a_restart() {
        let restart: Vec<_> = TABLE
            .settings
            .iter()
            .filter(|s| s.reload == Reload::Restart)
            .map(|s| s.name)
            .collect();
        assert_eq!(restart, ["port", "listen_backlog"]);
    }
}
