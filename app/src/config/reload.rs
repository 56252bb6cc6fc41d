//! What a reload (SIGHUP) changes, worked out from the settings table alone:
//! each row says how to show its value and whether it may change live, so
//! no setting needs code of its own to be compared or kept.

use crate::config::{Reload, Table};
use crate::LogLine;

/// A configuration read again, reconciled with the one in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded<C> {
    /// What is in force from now on: the fresh value of every live setting,
    /// the running value of every setting that needs a restart.
    pub config: C,
    /// Live settings whose value changed: name and new value, in table order.
    pub changed: Vec<(&'static str, String)>,
    /// Settings given a new value that only a restart applies, in table order.
    pub restart_needed: Vec<&'static str>,
}

impl<C> Reloaded<C> {
    /// Compares `fresh` with `running`, setting by setting of `table`, by the
    /// value each shows in the `config` line. A setting that needs a restart
    /// gets its running value back (by applying the text it shows); `Err`
    /// only if a row cannot read back what it shows, which a test of each
    /// table rules out.
    pub fn reconcile(table: &Table<C>, running: &C, fresh: C) -> Result<Self, String> {
        let mut reloaded = Reloaded {
            config: fresh,
            changed: Vec::new(),
            restart_needed: Vec::new(),
        };
        for setting in table.settings {
            let old = (setting.show)(running);
            let new = (setting.show)(&reloaded.config);
            if old == new {
                continue;
            }
            match setting.reload {
                Reload::Live => reloaded.changed.push((setting.name, new)),
                Reload::Restart => {
                    (setting.apply)(&mut reloaded.config, &old).map_err(|expected| {
                        format!(
                            "cannot keep {} at its running value {old}: expected {expected}",
                            setting.name
                        )
                    })?;
                    reloaded.restart_needed.push(setting.name);
                }
            }
        }
        Ok(reloaded)
    }

    /// Adds `changed: name=value, ...` (or `changed: none`) and, when some
    /// setting waits for a restart, `restart_needed: name, ...` to `line`.
    pub fn log_fields(&self, line: LogLine) -> LogLine {
        let changed = if self.changed.is_empty() {
            "none".to_owned()
        } else {
            let pairs: Vec<String> = self
                .changed
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            pairs.join(", ")
        };
        let line = line.field("changed", changed);
        if self.restart_needed.is_empty() {
            line
        } else {
            line.field("restart_needed", self.restart_needed.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_in_range, parse_period, EnvNames, FileValues, Period};
    use crate::Outcome;

    #[derive(Debug, Default, Clone, PartialEq, Eq)]
    struct Toy {
        port: u16,
        period: Period,
        limit: u32,
    }

    const TOY: Table<Toy> = Table {
        file: "toy.ini",
        format: |_| Ok(FileValues::default()),
        env_prefix: "TOY_",
        env_names: EnvNames::Prefixed,
        ignored: &[],
        settings: crate::settings![
            /// the port
            port: "port" = "1", Restart, |t| parse_in_range(t, 1, 9);
            /// the period
            period: "period" = "1s", Live, parse_period;
            /// the limit
            limit: "limit" = "3", Live, |t| parse_in_range(t, 1, 99);
        ],
    };

    fn toy(port: u16, period: &str, limit: u32) -> Toy {
        Toy {
            port,
            period: parse_period(period).unwrap(),
            limit,
        }
    }

    fn line(reloaded: &Reloaded<Toy>) -> String {
        reloaded
            .log_fields(LogLine::new("reload", Outcome::Success))
            .to_string()
    }

    #[test]
    fn nothing_changed_says_so() {
        let running = toy(1, "1s", 3);
        let reloaded = Reloaded::reconcile(&TOY, &running, running.clone()).unwrap();
        assert_eq!(reloaded.config, running);
        assert_eq!(
            line(&reloaded),
            "action: reload | result: success | changed: none"
        );
    }

    #[test]
    fn live_settings_take_their_new_values_in_table_order() {
        let reloaded = Reloaded::reconcile(&TOY, &toy(1, "1s", 3), toy(1, "250ms", 7)).unwrap();
        assert_eq!(reloaded.config, toy(1, "250ms", 7));
        assert_eq!(
            line(&reloaded),
            "action: reload | result: success | changed: period=250ms, limit=7"
        );
    }

    #[test]
    fn restart_settings_keep_their_running_value_and_are_named() {
        let reloaded = Reloaded::reconcile(&TOY, &toy(1, "1s", 3), toy(5, "1s", 4)).unwrap();
        assert_eq!(reloaded.config, toy(1, "1s", 4));
        assert_eq!(reloaded.restart_needed, ["port"]);
        assert_eq!(
            line(&reloaded),
            "action: reload | result: success | changed: limit=4 | restart_needed: port"
        );
        let only_restart = Reloaded::reconcile(&TOY, &toy(1, "1s", 3), toy(5, "1s", 3)).unwrap();
        assert_eq!(
            line(&only_restart),
            "action: reload | result: success | changed: none | restart_needed: port"
        );
    }

    #[test]
    fn a_value_written_differently_counts_as_changed() {
        // A duration shows as written, in the `config` line as here.
        let reloaded = Reloaded::reconcile(&TOY, &toy(1, "1s", 3), toy(1, "1000ms", 3)).unwrap();
        assert_eq!(reloaded.changed, [("period", "1000ms".to_owned())]);
    }

    #[test]
    fn a_row_that_cannot_read_back_its_value_is_an_error_not_a_wrong_value() {
        // Port 12 shows as "12", which the row's parser (1..=9) refuses.
        let err = Reloaded::reconcile(&TOY, &toy(12, "1s", 3), toy(5, "1s", 3)).unwrap_err();
        assert_eq!(
            err,
            "cannot keep port at its running value 12: expected an integer from 1 to 9"
        );
    }
}
