//! The command line both programs share: `--help`, `--version`, `--config PATH`,
//! and `--probe` for a program that has a health probe.

use std::path::PathBuf;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run, reading the given config file instead of the default one.
    Run {
        /// `--config PATH`, if given (then the file must exist).
        config: Option<PathBuf>,
        /// `--probe`: check the running program's health instead of running.
        probe: bool,
    },
    /// Print this text on stdout and exit 0 (`--help`, `--version`).
    Print(String),
    /// Print this usage error on stderr and exit 2.
    Usage(String),
}

/// What the command line of one program accepts.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a> {
    /// The program's name, for messages and `--version`.
    pub name: &'a str,
    /// The binary's own version (its crate's `CARGO_PKG_VERSION`).
    pub version: &'a str,
    /// What `--help` prints.
    pub help: &'a str,
    /// Whether `--probe` is accepted.
    pub probe: bool,
}

/// Parses the arguments after the program name.
pub fn parse_args(spec: Spec<'_>, args: impl IntoIterator<Item = String>) -> Command {
    let Spec {
        name,
        version,
        help,
        probe: probe_allowed,
    } = spec;
    let mut config = None;
    let mut probe = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Command::Print(help.to_owned()),
            "-V" | "--version" => return Command::Print(format!("{name} {version}\n")),
            "--probe" if probe_allowed => probe = true,
            "--config" => match args.next() {
                Some(path) => config = Some(PathBuf::from(path)),
                None => return usage(name, probe_allowed, "--config needs a file path"),
            },
            _ => match arg.strip_prefix("--config=") {
                Some(path) => config = Some(PathBuf::from(path)),
                None => {
                    let problem = format!("unexpected argument {arg:?}");
                    return usage(name, probe_allowed, &problem);
                }
            },
        }
    }
    Command::Run { config, probe }
}

fn usage(name: &str, probe: bool, problem: &str) -> Command {
    Command::Usage(format!("{name}: {problem}\n{}\n", usage_line(name, probe)))
}

/// `usage: name [--config PATH] [--probe] [--help] [--version]`, for
/// `--help` and usage errors.
pub fn usage_line(name: &str, probe: bool) -> String {
    let probe = if probe { " [--probe]" } else { "" };
    format!("usage: {name} [--config PATH]{probe} [--help] [--version]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(probe: bool, args: &[&str]) -> Command {
        let spec = Spec {
            name: "server",
            version: "7.8.9",
            help: "HELP\n",
            probe,
        };
        parse_args(spec, args.iter().map(|a| a.to_string()))
    }

    fn parse(args: &[&str]) -> Command {
        parse_with(false, args)
    }

    #[test]
    fn flags() {
        assert_eq!(
            parse(&[]),
            Command::Run {
                config: None,
                probe: false
            }
        );
        assert_eq!(
            parse(&["--config", "a.ini"]),
            Command::Run {
                config: Some("a.ini".into()),
                probe: false
            }
        );
        assert_eq!(
            parse(&["--config=b.ini"]),
            Command::Run {
                config: Some("b.ini".into()),
                probe: false
            }
        );
        assert_eq!(parse(&["--help"]), Command::Print("HELP\n".into()));
        assert_eq!(
            parse(&["--version"]),
            Command::Print("server 7.8.9\n".into()),
            "the binary's own version, not this crate's"
        );
        assert!(
            matches!(parse(&["--config"]), Command::Usage(u) if u.contains("needs a file path"))
        );
        assert!(matches!(parse(&["-x"]), Command::Usage(u) if u.contains("\"-x\"")));
    }

    #[test]
    fn probe_only_where_the_program_has_one() {
        assert_eq!(
            parse_with(true, &["--probe", "--config", "c.ini"]),
            Command::Run {
                config: Some("c.ini".into()),
                probe: true
            }
        );
        assert!(
            matches!(parse(&["--probe"]), Command::Usage(u) if u.contains("\"--probe\"") && !u.contains("[--probe]"))
        );
        assert!(matches!(parse_with(true, &["-x"]), Command::Usage(u) if u.contains("[--probe]")));
    }
}
