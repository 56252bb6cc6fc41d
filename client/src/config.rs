//! The client's settings: `CLI_*` variables, `config.yaml`, or built-in
//! defaults, each declared once in [`TABLE`]. A YAML key `a.b` is the
//! variable `CLI_A_B`.

use app::config::{
    parse_in_range, parse_level, parse_period, parse_timeout, ConfiguredLevel, EnvNames, Period,
    Table,
};

use crate::yaml::parse_yaml;

/// `host:port` of the server; the host is resolved on every connection attempt
/// so that a restarted server container is found under its new address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// Every setting in force, after layering. [`TABLE`] fills it: a field
/// without a row there would keep its `Default` placeholder.
#[derive(Debug, Clone, Default)]
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

/// The client's settings, in the order of the `config` line (whose first
/// five fields are the contract's). Live: the log level and the two
/// timeouts, which a reload (SIGHUP) applies to the next message; what the
/// run is (who, where, how many, how often) needs a restart.
pub const TABLE: Table<ClientConfig> = Table {
    file: "config.yaml",
    format: parse_yaml,
    // The server's `SERVER_*` are not looked at.
    env_prefix: "CLI_",
    env_names: EnvNames::Prefixed,
    // The course's `config.yaml` has it (a later exercise's setting), which
    // the Go client would also take from the variable.
    ignored: &["batch.maxAmount"],
    settings: app::settings![
        /// client id
        id as client_id: "id" = "1", Restart, parse_id;
        /// host:port
        server_address: "server.address" = "localhost:12345", Restart, parse_address;
        /// messages to send
        loop_amount: "loop.amount" = "5", Restart, |t| parse_in_range(t, 0, u64::MAX);
        // 0 is no wait between messages.
        /// wait between messages (0 = none)
        loop_period: "loop.period" = "1s", Restart, parse_period;
        /// ERROR, WARNING, INFO or DEBUG
        log_level: "log.level" = "INFO", Live, parse_level;
        /// connect retries per message
        connect_window: "server.connect_window" = "10s", Live, parse_timeout;
        /// wait for an answer
        response_timeout: "server.response_timeout" = "5s", Live, parse_timeout;
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use app::config::{ConfigError, Layers, Reload, Reloaded, UnknownKeys};

    fn read(env: &[(&str, &str)], yaml: &str) -> Result<(ClientConfig, UnknownKeys), ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        TABLE.read(&Layers::new(env, parse_yaml(yaml).unwrap(), "config.yaml"))
    }

    fn config(env: &[(&str, &str)], yaml: &str) -> Result<ClientConfig, ConfigError> {
        read(env, yaml).map(|(config, _)| config)
    }

    fn warning(env: &[(&str, &str)], yaml: &str) -> Option<String> {
        read(env, yaml).unwrap().1.log_line().map(|l| l.to_string())
    }

    const COURSE_YAML: &str = "server:\n  address: \"server:12345\"\nloop:\n  amount: 5\n  period: \"5s\"\nlog:\n  level: \"INFO\"\nbatch:\n  maxAmount: 10\n";

    #[test]
    fn course_file_gives_the_contract_config_line() {
        let c = config(&[("CLI_ID", "1")], COURSE_YAML).unwrap();
        assert!(TABLE.log_line(&c).to_string().starts_with(
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
        assert_eq!(warning(&env, COURSE_YAML), None);
        let every_setting = "id: 2\nserver:\n  address: a:1\n  connect_window: 1s\n  response_timeout: 1s\nloop:\n  amount: 1\n  period: 1s\nlog:\n  level: INFO\n";
        assert_eq!(warning(&[], every_setting), None);
        let every_variable = TABLE
            .settings
            .iter()
            .map(|s| (TABLE.env_name(s.key), s.default.into()));
        let layers = Layers::new(every_variable, parse_yaml("").unwrap(), "config.yaml");
        assert!(TABLE.read(&layers).unwrap().1.is_empty());
        let typo = "server:\n  adress: a:1\nlog:\n  level: INFO\n  file: x\n";
        assert_eq!(
            warning(&[("CLI_LOOP_AMMOUNT", "3")], typo).unwrap(),
            "action: config | result: success | warning: unknown keys ignored | file: config.yaml | file_keys: log.file, server.adress | env_vars: CLI_LOOP_AMMOUNT"
        );
    }

    #[test]
    fn every_default_parses_and_shows_as_written() {
        let c = config(&[], "").unwrap();
        for setting in TABLE.settings {
            assert_eq!((setting.show)(&c), setting.default, "{}", setting.name);
        }
    }

    #[test]
    fn variables_are_the_yaml_keys_upper_cased_with_the_prefix() {
        let keys = TABLE.settings.iter().map(|s| s.key);
        let names: Vec<_> = keys
            .chain(TABLE.ignored.iter().copied())
            .map(|k| TABLE.env_name(k))
            .collect();
        assert_eq!(
            names,
            [
                "CLI_ID",
                "CLI_SERVER_ADDRESS",
                "CLI_LOOP_AMOUNT",
                "CLI_LOOP_PERIOD",
                "CLI_LOG_LEVEL",
                "CLI_SERVER_CONNECT_WINDOW",
                "CLI_SERVER_RESPONSE_TIMEOUT",
                "CLI_BATCH_MAXAMOUNT",
            ]
        );
    }

    #[test]
    fn a_reload_can_keep_every_running_value() {
        // A reload keeps a restart setting by applying the text it shows.
        let defaults = config(&[], "").unwrap();
        let unusual = [
            ("CLI_ID", "a.b-c_9"),
            ("CLI_SERVER_ADDRESS", "[::1]:9"),
            ("CLI_LOOP_AMOUNT", "18446744073709551615"),
            ("CLI_LOOP_PERIOD", "1m30s"),
        ];
        let unusual = config(&unusual, "").unwrap();
        for (running, fresh) in [(&defaults, &unusual), (&unusual, &defaults)] {
            let kept = Reloaded::reconcile(&TABLE, running, fresh.clone()).unwrap();
            let restart = ["client_id", "server_address", "loop_amount", "loop_period"];
            assert_eq!(kept.restart_needed, restart);
            let line = |c| TABLE.log_line(c).to_string();
            assert_eq!(line(&kept.config), line(running));
        }
    }

    #[test]
    fn what_the_run_is_needs_a_restart() {
        let live: Vec<_> = TABLE
            .settings
            .iter()
            .filter(|s| s.reload == Reload::Live)
            .map(|s| s.name)
            .collect();
        assert_eq!(live, ["log_level", "connect_window", "response_timeout"]);
    }
}
