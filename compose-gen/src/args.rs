//! The command line: `compose-gen [--swarm [options]] <output-file> <client-count>`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::model::MAX_CLIENTS;
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

/// The `--swarm` options, before they are checked.
#[derive(Debug, Default)]
struct SwarmFlags {
    swarm: bool,
    servers: Option<OsString>,
    server_image: Option<OsString>,
    client_image: Option<OsString>,
    server_config_tag: Option<OsString>,
    client_config_tag: Option<OsString>,
    server_constraint: Option<OsString>,
    client_constraint: Option<OsString>,
}

impl SwarmFlags {
    /// Takes `arg` (and its value from `rest`) if it is one of the options;
    /// anything else is left to the positional arguments, as before the
    /// options existed.
    fn take(
        &mut self,
        arg: &OsString,
        rest: &mut impl Iterator<Item = OsString>,
    ) -> Result<bool, String> {
        let text = arg.to_string_lossy();
        if text == "--swarm" {
            self.swarm = true;
            return Ok(true);
        }
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(OsString::from(value))),
            None => (text.into_owned(), None),
        };
        let slot = match name.as_str() {
            "--servers" => &mut self.servers,
            "--server-image" => &mut self.server_image,
            "--client-image" => &mut self.client_image,
            "--server-config-tag" => &mut self.server_config_tag,
            "--client-config-tag" => &mut self.client_config_tag,
            "--server-constraint" => &mut self.server_constraint,
            "--client-constraint" => &mut self.client_constraint,
            _ => return Ok(false),
        };
        let value = inline
            .or_else(|| rest.next())
            .ok_or_else(|| format!("{name} needs a value"))?;
        *slot = Some(value);
        Ok(true)
    }
}

/// Parses the arguments after the program name.
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Command {
    let args: Vec<OsString> = args.into_iter().collect();
    if args.len() == 1 && (args[0] == "-h" || args[0] == "--help") {
        return Command::Help;
    }
    let mut flags = SwarmFlags::default();
    let mut positional = Vec::new();
    let mut rest = args.into_iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            positional.extend(rest.by_ref());
            break;
        }
        match flags.take(&arg, &mut rest) {
            Ok(true) => {}
            Ok(false) => positional.push(arg),
            Err(problem) => return Command::Usage(problem),
        }
    }
    match parse_positional(positional) {
        Ok((output, clients)) if flags.swarm => stack_command(flags, output, clients),
        Ok(_) if flags.servers.is_some() => {
            Command::Usage("--servers is an option of --swarm".to_owned())
        }
        Ok(_) if flags.server_image.is_some() || flags.client_image.is_some() => {
            Command::Usage("--server-image and --client-image are options of --swarm".to_owned())
        }
        Ok(_) if flags.server_config_tag.is_some() || flags.client_config_tag.is_some() => {
            Command::Usage(
                "--server-config-tag and --client-config-tag are options of --swarm".to_owned(),
            )
        }
        Ok(_) if flags.server_constraint.is_some() || flags.client_constraint.is_some() => {
            Command::Usage(
                "--server-constraint and --client-constraint are options of --swarm".to_owned(),
            )
        }
        Ok((output, clients)) => Command::Generate { output, clients },
        Err(problem) => Command::Usage(problem),
    }
}

/// The `--swarm` command, its options checked.
fn stack_command(flags: SwarmFlags, output: PathBuf, clients: u32) -> Command {
    let servers = match flags.servers.as_ref().map(parse_servers) {
        None => DEFAULT_SERVERS,
        Some(Ok(servers)) => servers,
        Some(Err(problem)) => return Command::Usage(problem),
    };
    if servers + clients > MAX_TASKS {
        return Command::Usage(format!(
            "at most {MAX_TASKS} servers and clients together (they share one /24 overlay \
             network), got {servers} + {clients}"
        ));
    }
    let image = |value: Option<OsString>, default: &str, name: &str| match value {
        None => Ok(default.to_owned()),
        Some(value) => match value.into_string() {
            Ok(text) if !text.is_empty() && !text.contains(char::is_whitespace) => Ok(text),
            Ok(text) => Err(format!("{name} must be an image reference, got {text:?}")),
            Err(value) => Err(format!("{name} must be an image reference, got {value:?}")),
        },
    };
    let images = image(flags.server_image, "server:latest", "--server-image")
        .and_then(|s| image(flags.client_image, "client:latest", "--client-image").map(|c| (s, c)));
    let tags = match (flags.server_config_tag, flags.client_config_tag) {
        (None, None) => Ok(None),
        (Some(server), Some(client)) => config_tag(server, "--server-config-tag")
            .and_then(|s| config_tag(client, "--client-config-tag").map(|c| Some((s, c)))),
        _ => Err("--server-config-tag and --client-config-tag go together".to_owned()),
    };
    let constraint = |value: Option<OsString>, name: &str| match value {
        None => Ok(None),
        Some(value) => match value.into_string() {
            Ok(text) if !text.trim().is_empty() && !text.contains(['\n', '\r']) => Ok(Some(text)),
            Ok(text) => Err(format!("{name} must be one line, got {text:?}")),
            Err(value) => Err(format!("{name} must be text, got {value:?}")),
        },
    };
    let constraints = constraint(flags.server_constraint, "--server-constraint")
        .and_then(|s| constraint(flags.client_constraint, "--client-constraint").map(|c| (s, c)));
    match images.and_then(|images| tags.and_then(|tags| constraints.map(|c| (images, tags, c)))) {
        Ok(((server_image, client_image), config_tags, constraints)) => Command::Stack {
            output,
            clients,
            servers,
            server_image,
            client_image,
            config_tags,
            constraints,
        },
        Err(problem) => Command::Usage(problem),
    }
}

/// A config tag: what a Swarm config name may hold (letters, digits, `.`,
/// `_`, `-`), at most 64 characters.
fn config_tag(value: OsString, name: &str) -> Result<String, String> {
    match value.into_string() {
        Ok(text)
            if (1..=64).contains(&text.len())
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) =>
        {
            Ok(text)
        }
        Ok(text) => Err(format!(
            "{name} must be 1 to 64 letters, digits, '.', '_' or '-', got {text:?}"
        )),
        Err(value) => Err(format!(
            "{name} must be 1 to 64 letters, digits, '.', '_' or '-', got {value:?}"
        )),
    }
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
    Ok((output.into(), parse_count(&count)?))
}

/// A server replica count: ASCII digits, `1..=MAX_SERVERS`.
fn parse_servers(text: &OsString) -> Result<u32, String> {
    let shown = text.to_string_lossy();
    match text.to_str() {
        Some(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => match t.parse() {
            Ok(n) if (1..=MAX_SERVERS).contains(&n) => Ok(n),
            _ => Err(format!(
                "--servers must be from 1 to {MAX_SERVERS}, got {shown}"
            )),
        },
        _ => Err(format!(
            "--servers must be a positive integer, got {shown:?}"
        )),
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
