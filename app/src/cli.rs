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

/// Parses the arguments after the program name.
pub fn parse_args(name: &str, help: &str, args: impl IntoIterator<Item = String>) -> Command {
    let mut config = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Command::Print(help.to_owned()),
            "-V" | "--version" => {
                return Command::Print(format!("{name} {}\n", env!("CARGO_PKG_VERSION")))
            }
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
    Command::Usage(format!(
        "{name}: {problem}\nusage: {name} [--config PATH] [--help] [--version]\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        parse_args("server", "HELP\n", args.iter().map(|a| a.to_string()))
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
        assert!(matches!(parse(&["--version"]), Command::Print(v) if v.starts_with("server 0.")));
        assert!(
            matches!(parse(&["--config"]), Command::Usage(u) if u.contains("needs a file path"))
        );
        assert!(matches!(parse(&["-x"]), Command::Usage(u) if u.contains("\"-x\"")));
    }
}
