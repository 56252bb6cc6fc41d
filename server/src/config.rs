//! The server's settings: `SERVER_*` keys from the environment, the
//! `[DEFAULT]` section of `config.ini`, or built-in defaults, each declared
//! once in [`TABLE`].

use app::config::{
    parse_in_range, parse_ini, parse_level, parse_period, parse_timeout, ConfiguredLevel, EnvNames,
    Period, Table,
};

/// Descriptors kept free for the listener, the poll, the signal pipe and logging
/// when the connection cap is derived from the fd limit.
const RESERVED_FDS: u64 = 16;

/// Every setting in force, after layering. [`TABLE`] fills it: a field
/// without a row there would keep its `Default` placeholder.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// TCP port, bound on all interfaces; 0 lets the system pick one.
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
    env_names: EnvNames::Key,
    // The course's `config.ini` has it; the server listens on all interfaces.
    ignored: &["SERVER_IP"],
    settings: app::settings![
        /// TCP port on all interfaces, IPv6 and IPv4 (0 = any free port)
        port: "SERVER_PORT" = "12345", Restart, parse_listen_port;
        /// listen(2) backlog
        listen_backlog: "SERVER_LISTEN_BACKLOG" = "5", Restart, |t| parse_in_range(t, 1, 65535);
        /// ERROR, WARNING, INFO or DEBUG
        logging_level: "LOGGING_LEVEL" = "INFO", Live, parse_level;
        // 0 is no grace: what a second signal does.
        /// time in-flight exchanges get after SIGTERM (0 = none)
        shutdown_grace: "SERVER_SHUTDOWN_GRACE" = "500ms", Live, parse_period;
        /// longest message, newline included
        max_message_bytes: "SERVER_MAX_MESSAGE_BYTES" = "65536", Live,
            |t| parse_in_range(t, 1, 1 << 30);
        /// total time to deliver a message
        read_timeout: "SERVER_READ_TIMEOUT" = "5s", Live, parse_timeout;
        /// total time to take the echo
        write_timeout: "SERVER_WRITE_TIMEOUT" = "5s", Live, parse_timeout;
        /// concurrent connections; auto = the fd limit minus a reserve
        max_connections: "SERVER_MAX_CONNECTIONS" = "auto", Live, parse_max_connections;
        /// messages answered before closing (0 = no limit)
        messages_per_connection: "SERVER_MESSAGES_PER_CONNECTION" = "1", Live,
            |t| parse_in_range(t, 0, u64::MAX);
        /// bytes all connections buffer together
        max_buffered_bytes: "SERVER_MAX_BUFFERED_BYTES" = "67108864", Live,
            |t| parse_in_range(t, 1, usize::MAX);
    ],
};

/// A port to listen on: 0 asks the system for a free one, which the
/// `listen` line then names (several servers side by side, as tests run
/// them, never race for a port picked in advance).
fn parse_listen_port(text: &str) -> Result<u16, String> {
    text.parse()
        .map_err(|_| "a port number from 0 (any free port) to 65535".to_owned())
}

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
    use app::config::{ConfigError, Layers, Reload, Reloaded, UnknownKeys};

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
    fn port_0_asks_for_any_free_port() {
        assert_eq!(config(&[("SERVER_PORT", "0")], "").unwrap().port, 0);
        let err = config(&[("SERVER_PORT", "65536")], "").unwrap_err();
        assert!(
            err.to_string().contains("from 0 (any free port) to 65535"),
            "{err}"
        );
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
            .map(|s| format!("{} = {}\n", s.key, s.default))
            .collect();
        let every_variable = TABLE
            .settings
            .iter()
            .map(|s| (TABLE.env_name(s.key), s.default.into()));
        let layers = Layers::new(
            every_variable,
            parse_ini(&every_setting).unwrap(),
            "config.ini",
        );
        assert!(TABLE.read(&layers).unwrap().1.is_empty());
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
        let defaults = config(&[], "").unwrap();
        let highest = [("SERVER_PORT", "65535"), ("SERVER_LISTEN_BACKLOG", "65535")];
        let highest = config(&highest, "").unwrap();
        for (running, fresh) in [(&defaults, &highest), (&highest, &defaults)] {
            let kept = Reloaded::reconcile(&TABLE, running, fresh.clone()).unwrap();
            assert_eq!(kept.restart_needed, ["port", "listen_backlog"]);
            let line = |c| TABLE.log_line(c).to_string();
            assert_eq!(line(&kept.config), line(running));
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
