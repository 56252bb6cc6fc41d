//! The command line: `compose-gen <output-file> <client-count>`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::model::MAX_CLIENTS;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Write the file for `clients` clients to `output`.
    Generate {
        /// Where the compose file goes (replaced if it exists).
        output: PathBuf,
        /// Number of clients, `0..=MAX_CLIENTS`.
        clients: u32,
    },
    /// `-h` / `--help`: print [`usage`] on stdout and exit 0.
    Help,
    /// A usage error: print this problem and [`usage`] on stderr, exit 2,
    /// touch no file.
    Usage(String),
}

/// The usage text.
pub fn usage() -> String {
    format!(
        "usage: compose-gen <output-file> <client-count>\n\
         Writes a Docker Compose file with the echo server and <client-count> clients\n\
         (an integer from 0 to {MAX_CLIENTS}) to <output-file>, replacing it atomically.\n"
    )
}

/// Parses the arguments after the program name.
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Command {
    let args: Vec<OsString> = args.into_iter().collect();
    if args.len() == 1 && (args[0] == "-h" || args[0] == "--help") {
        return Command::Help;
    }
    let [output, count] = match <[OsString; 2]>::try_from(args) {
        Ok(pair) => pair,
        Err(args) if args.len() < 2 => {
            return Command::Usage("missing <output-file> or <client-count>".to_owned())
        }
        Err(args) => {
            let extra = args[2].to_string_lossy();
            return Command::Usage(format!("unexpected argument {extra:?}"));
        }
    };
    if output.is_empty() {
        return Command::Usage("<output-file> is empty".to_owned());
    }
    match parse_count(&count) {
        Ok(clients) => Command::Generate {
            output: output.into(),
            clients,
        },
        Err(problem) => Command::Usage(problem),
    }
}

/// A client count: ASCII digits only (no sign, no spaces), at most
/// [`MAX_CLIENTS`].
fn parse_count(text: &OsString) -> Result<u32, String> {
    let shown = text.to_string_lossy();
    let bad = || format!("<client-count> must be a non-negative integer, got {shown:?}");
    let text = text.to_str().ok_or_else(bad)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u32>() {
        Ok(n) if n <= MAX_CLIENTS => Ok(n),
        _ => Err(format!(
            "<client-count> must be at most {MAX_CLIENTS} (the clients and the server \
             share one /24 network), got {shown}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        parse_args(args.iter().map(OsString::from))
    }

    fn generate(output: &str, clients: u32) -> Command {
        Command::Generate {
            output: output.into(),
            clients,
        }
    }

    fn usage_error(args: &[&str]) -> String {
        match parse(args) {
            Command::Usage(problem) => problem,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn valid_counts() {
        assert_eq!(parse(&["out.yaml", "0"]), generate("out.yaml", 0));
        assert_eq!(parse(&["out.yaml", "1"]), generate("out.yaml", 1));
        assert_eq!(parse(&["dir/x.yaml", "007"]), generate("dir/x.yaml", 7));
        assert_eq!(parse(&["x", "252"]), generate("x", 252));
    }

    #[test]
    fn help() {
        assert_eq!(parse(&["--help"]), Command::Help);
        assert_eq!(parse(&["-h"]), Command::Help);
        assert!(usage().starts_with("usage: compose-gen <output-file> <client-count>\n"));
    }

    #[test]
    fn wrong_number_of_arguments() {
        assert!(usage_error(&[]).contains("missing"));
        assert!(usage_error(&["out.yaml"]).contains("missing"));
        assert!(usage_error(&["out.yaml", "1", "2"]).contains("unexpected argument \"2\""));
    }

    #[test]
    fn not_a_count() {
        for count in ["", "-1", "+1", " 1", "1 ", "1.0", "1e2", "abc", "0x10", "٣"] {
            let problem = usage_error(&["out.yaml", count]);
            assert!(
                problem.contains("non-negative integer"),
                "{count:?}: {problem}"
            );
        }
    }

    #[test]
    fn too_many_clients() {
        for count in ["253", "4294967296", "99999999999999999999"] {
            assert!(usage_error(&["out.yaml", count]).contains("at most 252"));
        }
    }

    #[test]
    fn empty_output() {
        assert!(usage_error(&["", "1"]).contains("empty"));
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8() {
        use std::os::unix::ffi::OsStringExt;
        let odd = OsString::from_vec(vec![b'o', 0xff]);
        let parsed = parse_args([odd.clone(), OsString::from("1")]);
        assert_eq!(
            parsed,
            Command::Generate {
                output: odd.clone().into(),
                clients: 1
            }
        );
        assert!(matches!(
            parse_args([OsString::from("x"), odd]),
            Command::Usage(p) if p.contains("non-negative integer")
        ));
    }
}
