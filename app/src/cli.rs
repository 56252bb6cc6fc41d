//! The command line both programs share: `--help`, `--version`, `--config PATH`.

use std::path::PathBuf;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run, reading the given config file instead of the default one.
    Run {
        /// `--config PATH`, if given (then the file must exist).
        config: Option<PathBuf>,
    },
    /// Print this text on stdout and exit 0 (`--help`, `--version`).
    Print(String),
    /// Print this usage error on stderr and exit 2.
    Usage(String),
}

/// Parses the arguments after the program name. `version` is the binary's
/// own (its crate's `CARGO_PKG_VERSION`), which `--version` prints.
pub fn parse_args(
    name: &str,
    version: &str,
    help: &str,
    args: impl IntoIterator<Item = String>,
) -> Command {
    let mut config = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Command::Print(help.to_owned()),
            "-V" | "--version" => return Command::Print(format!("{name} {version}\n")),
            "--config" => match args.next() {
                Some(path) => config = Some(PathBuf::from(path)),
                None => return usage(name, "--config needs a file path"),
            },
            _ => match arg.strip_prefix("--config=") {
                Some(path) => config = Some(PathBuf::from(path)),
                None => return usage(name, &format!("unexpected argument {arg:?}")),
            },
        }
    }
    Command::Run { config }
}

fn usage(name: &str, problem: &str) -> Command {
    Command::Usage(format!("{name}: {problem}\n{}\n", usage_line(name)))
}

/// `usage: name [--config PATH] [--help] [--version]`, for `--help` and usage errors.
pub fn usage_line(name: &str) -> String {
    format!("usage: {name} [--config PATH] [--help] [--version]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        parse_args(
            "server",
            "7.8.9",
            "HELP\n",
            args.iter().map(|a| a.to_string()),
        )
    }

    #[test]
    fn flags() {
        assert_eq!(parse(&[]), Command::Run { config: None });
        assert_eq!(
            parse(&["--config", "a.ini"]),
            Command::Run {
                config: Some("a.ini".into())
            }
        );
        assert_eq!(
            parse(&["--config=b.ini"]),
            Command::Run {
                config: Some("b.ini".into())
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
}
