//! The command line: `compose-gen [--swarm [options]] <output-file> <client-count>`.

use std::ffi::{OsStr, OsString};
use std::ops::RangeInclusive;
use std::path::PathBuf;

use crate::compose::MAX_CLIENTS;
use crate::stack::{DEFAULT_SERVERS, MAX_SERVERS, MAX_TASKS};

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Write the file for `clients` clients to `output`.
    Generate {
        /// Where the compose file goes (replaced if it exists); `-` is
        /// standard output.
        output: PathBuf,
        /// Number of clients, `0..=MAX_CLIENTS`.
        clients: u32,
    },
    /// `--swarm`: write a Swarm stack to `output`, with the configs beside it.
    Stack {
        /// Where the stack file goes (replaced if it exists); `-` is
        /// standard output.
        output: PathBuf,
        /// Client replicas, `0..=MAX_CLIENTS`.
        clients: u32,
        /// Server replicas, `1..=MAX_SERVERS`.
        servers: u32,
        /// The server's image reference.
        server_image: String,
        /// The client's image reference.
        client_image: String,
        /// Tags naming the server's and the client's config by content, as
        /// the caller computed them; `None`: read the files beside `output`.
        config_tags: Option<(String, String)>,
        /// Placement constraints of the server's and the clients' tasks.
        constraints: (Option<String>, Option<String>),
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
         \x20      compose-gen --swarm [--servers N] [--server-image IMAGE] [--client-image IMAGE]\n\
         \x20                  [--server-config-tag TAG --client-config-tag TAG]\n\
         \x20                  [--server-constraint EXPR] [--client-constraint EXPR]\n\
         \x20                  <output-file> <client-count>\n\
         Writes a Docker Compose file with the echo server and <client-count> clients\n\
         (an integer from 0 to {MAX_CLIENTS}) to <output-file>, replacing it atomically;\n\
         <output-file> - is standard output.\n\
         With --swarm, a Docker Swarm stack instead: N server replicas (default {DEFAULT_SERVERS}, \
         at most {MAX_SERVERS})\n\
         and <client-count> client replicas, with server/config.ini and client/config.yaml\n\
         beside <output-file> as Swarm configs named by their content (or by the tags\n\
         given, which the caller computed from the content); the images default to\n\
         server:latest and client:latest. The server's replicas are spread over the\n\
         nodes; a constraint (node.role == worker) limits where a service's tasks run.\n"
    )
}

/// The options that take a value, all of them `--swarm`'s; `--swarm` is the
/// only other one.
const VALUED: [&str; 7] = [
    "servers",
    "server-image",
    "client-image",
    "server-config-tag",
    "client-config-tag",
    "server-constraint",
    "client-constraint",
];

/// Parses the arguments after the program name.
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Command {
    let args: Vec<OsString> = args.into_iter().collect();
    match &args[..] {
        [only] if only == "-h" || only == "--help" => Command::Help,
        _ => parse(args).unwrap_or_else(Command::Usage),
    }
}

fn parse(args: Vec<OsString>) -> Result<Command, String> {
    let mut swarm = false;
    let mut values: [Option<OsString>; 7] = Default::default();
    let mut positional = Vec::new();
    let mut parser = lexopt::Parser::from_args(args);
    // Anything but the options is a positional argument exactly as given,
    // dashes and all, as before the options existed: `-1` is a bad count.
    while let Some(mut raw) = parser.try_raw_args() {
        if raw.next_if(|arg| arg == "--").is_some() {
            positional.extend(raw);
        } else if let Some(arg) = raw.next_if(|arg| !is_option(arg)) {
            positional.push(arg);
        } else if let Some(lexopt::Arg::Long(name)) = parser.next().map_err(|e| e.to_string())? {
            let name = name.to_owned();
            let Some(slot) = VALUED.iter().position(|&valued| valued == name) else {
                swarm = true;
                continue;
            };
            // `--name=value` is read as text (invalid UTF-8 replaced), as it always
            // was; a value given as the next argument is checked as it is.
            values[slot] = Some(match parser.optional_value() {
                Some(value) => value.to_string_lossy().into_owned().into(),
                None => parser
                    .value()
                    .map_err(|_| format!("--{name} needs a value"))?,
            });
        } else {
            break;
        }
    }
    let (output, clients) = parse_positional(positional)?;
    let [servers, server_image, client_image, server_tag, client_tag, server_place, client_place] =
        values;
    if swarm {
        let bounds = format!("from 1 to {MAX_SERVERS}");
        let servers = servers.map_or(Ok(DEFAULT_SERVERS), |servers| {
            number(
                &servers,
                1..=MAX_SERVERS,
                "--servers",
                "positive integer",
                &bounds,
            )
        })?;
        if servers + clients > MAX_TASKS {
            return Err(format!(
                "at most {MAX_TASKS} servers and clients together (they share one /24 overlay \
                 network), got {servers} + {clients}"
            ));
        }
        let server_image = image(server_image, "server:latest", "--server-image")?;
        let client_image = image(client_image, "client:latest", "--client-image")?;
        let config_tags = match (server_tag, client_tag) {
            (None, None) => None,
            (Some(server), Some(client)) => Some((
                config_tag(server, "--server-config-tag")?,
                config_tag(client, "--client-config-tag")?,
            )),
            _ => return Err("--server-config-tag and --client-config-tag go together".to_owned()),
        };
        let constraints = (
            constraint(server_place, "--server-constraint")?,
            constraint(client_place, "--client-constraint")?,
        );
        return Ok(Command::Stack {
            output,
            clients,
            servers,
            server_image,
            client_image,
            config_tags,
            constraints,
        });
    }
    if servers.is_some() {
        Err("--servers is an option of --swarm".to_owned())
    } else if server_image.is_some() || client_image.is_some() {
        Err("--server-image and --client-image are options of --swarm".to_owned())
    } else if server_tag.is_some() || client_tag.is_some() {
        Err("--server-config-tag and --client-config-tag are options of --swarm".to_owned())
    } else if server_place.is_some() || client_place.is_some() {
        Err("--server-constraint and --client-constraint are options of --swarm".to_owned())
    } else {
        Ok(Command::Generate { output, clients })
    }
}

/// Whether `arg` is `--swarm`, or one of [`VALUED`] alone or with `=value`.
fn is_option(arg: &OsStr) -> bool {
    let text = arg.to_string_lossy();
    let name = text.split_once('=').map_or(&*text, |(name, _)| name);
    text == "--swarm" || name.strip_prefix("--").is_some_and(|n| VALUED.contains(&n))
}

/// `value` as text that `valid` accepts, else a usage problem saying what
/// `name` must be.
fn text(
    value: OsString,
    name: &str,
    valid: impl Fn(&str) -> bool,
    must: &str,
) -> Result<String, String> {
    match value.into_string() {
        Ok(text) if valid(&text) => Ok(text),
        Ok(text) => Err(format!("{name} must be {must}, got {text:?}")),
        Err(value) => Err(format!("{name} must be {must}, got {value:?}")),
    }
}

/// A placement constraint (`node.role == worker`): one line of text.
fn constraint(value: Option<OsString>, name: &str) -> Result<Option<String>, String> {
    let valid = |text: &str| !text.trim().is_empty() && !text.contains(['\n', '\r']);
    value
        .map(|value| text(value, name, valid, "one line"))
        .transpose()
}

/// An image reference (no whitespace), or `default` if none is given.
fn image(value: Option<OsString>, default: &str, name: &str) -> Result<String, String> {
    let valid = |text: &str| !text.is_empty() && !text.contains(char::is_whitespace);
    value.map_or(Ok(default.to_owned()), |value| {
        text(value, name, valid, "an image reference")
    })
}

/// A config tag: what a Swarm config name may hold, at most 64 characters.
fn config_tag(value: OsString, name: &str) -> Result<String, String> {
    let valid = |text: &str| {
        (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    text(
        value,
        name,
        valid,
        "1 to 64 letters, digits, '.', '_' or '-'",
    )
}

/// `<output-file> <client-count>`.
fn parse_positional(args: Vec<OsString>) -> Result<(PathBuf, u32), String> {
    let [output, count] = match <[OsString; 2]>::try_from(args) {
        Ok(pair) => pair,
        Err(args) if args.len() < 2 => {
            return Err("missing <output-file> or <client-count>".to_owned())
        }
        Err(args) => {
            let extra = args[2].to_string_lossy();
            return Err(format!("unexpected argument {extra:?}"));
        }
    };
    if output.is_empty() {
        return Err("<output-file> is empty".to_owned());
    }
    let bounds =
        format!("at most {MAX_CLIENTS} (the clients and the server share one /24 network)");
    let clients = number(
        &count,
        0..=MAX_CLIENTS,
        "<client-count>",
        "non-negative integer",
        &bounds,
    )?;
    Ok((output.into(), clients))
}

/// A number in `range` written in ASCII digits only (no sign, no spaces),
/// else a usage problem: `name` must be a `kind`, or `bounds`.
fn number(
    text: &OsStr,
    range: RangeInclusive<u32>,
    name: &str,
    kind: &str,
    bounds: &str,
) -> Result<u32, String> {
    let shown = text.to_string_lossy();
    if shown.is_empty() || !shown.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{name} must be a {kind}, got {shown:?}"));
    }
    let n = shown.parse().ok().filter(|n| range.contains(n));
    n.ok_or_else(|| format!("{name} must be {bounds}, got {shown}"))
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

    fn stack(output: &str, clients: u32, servers: u32) -> Command {
        Command::Stack {
            output: output.into(),
            clients,
            servers,
            server_image: "server:latest".to_owned(),
            client_image: "client:latest".to_owned(),
            config_tags: None,
            constraints: (None, None),
        }
    }

    #[test]
    fn swarm_flags_anywhere() {
        assert_eq!(parse(&["--swarm", "s.yaml", "3"]), stack("s.yaml", 3, 2));
        assert_eq!(parse(&["s.yaml", "3", "--swarm"]), stack("s.yaml", 3, 2));
        assert_eq!(
            parse(&["--swarm", "--servers", "5", "s.yaml", "0"]),
            stack("s.yaml", 0, 5)
        );
        assert_eq!(
            parse(&["--servers=1", "s.yaml", "--swarm", "2"]),
            stack("s.yaml", 2, 1)
        );
        assert_eq!(
            parse(&[
                "--swarm",
                "--server-image",
                "registry:5000/server:abc",
                "--client-image=client:abc",
                "s.yaml",
                "1"
            ]),
            Command::Stack {
                output: "s.yaml".into(),
                clients: 1,
                servers: 2,
                server_image: "registry:5000/server:abc".to_owned(),
                client_image: "client:abc".to_owned(),
                config_tags: None,
                constraints: (None, None),
            }
        );
        assert_eq!(
            parse(&[
                "--swarm",
                "--server-config-tag",
                "123-45",
                "--client-config-tag=6.7_8",
                "-",
                "1"
            ]),
            Command::Stack {
                output: "-".into(),
                clients: 1,
                servers: 2,
                server_image: "server:latest".to_owned(),
                client_image: "client:latest".to_owned(),
                config_tags: Some(("123-45".to_owned(), "6.7_8".to_owned())),
                constraints: (None, None),
            }
        );
        assert_eq!(
            parse(&[
                "--swarm",
                "--server-constraint",
                "node.role == worker",
                "--client-constraint=node.role == manager",
                "s.yaml",
                "3"
            ]),
            Command::Stack {
                output: "s.yaml".into(),
                clients: 3,
                servers: 2,
                server_image: "server:latest".to_owned(),
                client_image: "client:latest".to_owned(),
                config_tags: None,
                constraints: (
                    Some("node.role == worker".to_owned()),
                    Some("node.role == manager".to_owned())
                ),
            }
        );
    }

    #[test]
    fn double_dash_ends_the_options() {
        assert_eq!(parse(&["--", "--swarm", "1"]), generate("--swarm", 1));
        assert_eq!(
            parse(&["--swarm", "--", "--servers", "1"]),
            stack("--servers", 1, 2)
        );
    }

    #[test]
    fn bad_swarm_options() {
        for (args, expected) in [
            (&["--swarm", "--servers", "0", "s", "1"][..], "from 1 to 32"),
            (&["--swarm", "--servers", "33", "s", "1"], "from 1 to 32"),
            (
                &["--swarm", "--servers", "two", "s", "1"],
                "positive integer",
            ),
            (&["--swarm", "--servers", "", "s", "1"], "positive integer"),
            (
                &["--swarm", "s", "1", "--servers"],
                "--servers needs a value",
            ),
            (&["--servers", "3", "s", "1"], "option of --swarm"),
            (&["--client-image", "c", "s", "1"], "options of --swarm"),
            (
                &["--server-constraint", "node.role == worker", "s", "1"],
                "options of --swarm",
            ),
            (
                &["--swarm", "--client-constraint", " ", "s", "1"],
                "must be one line",
            ),
            (
                &["--swarm", "--server-image", "", "s", "1"],
                "image reference",
            ),
            (
                &["--swarm", "--client-image=a b", "s", "1"],
                "image reference",
            ),
            (&["--swarm", "--servers", "32", "s", "220"], "at most 251"),
            (&["--swarm", "s", "-1"], "non-negative integer"),
            (&["--swarm", "s"], "missing"),
            (
                &["--swarm", "--server-config-tag", "1", "s", "1"],
                "go together",
            ),
            (
                &[
                    "--swarm",
                    "--server-config-tag=a/b",
                    "--client-config-tag=c",
                    "s",
                    "1",
                ],
                "letters, digits",
            ),
            (
                &["--server-config-tag=a", "--client-config-tag=c", "s", "1"],
                "options of --swarm",
            ),
        ] {
            let problem = usage_error(args);
            assert!(problem.contains(expected), "{args:?}: {problem}");
        }
        assert_eq!(
            parse(&["--swarm", "--servers", "32", "s", "219"]),
            stack("s", 219, 32)
        );
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
