//! Writes the Docker Compose file for the echo server and N clients.
//!
//! `compose-gen <output-file> <client-count>` (usually through
//! `./generar-compose.sh`) writes a file with the `server` service, services
//! `client1..clientN` and the `testing_net` network; the committed
//! `docker-compose-dev.yaml` is its output for one client. With `--swarm` it
//! writes a Docker Swarm stack of the same images instead (`make swarm-up`).
//!
//! # Layout
//!
//! - [`compose`]: the compose file ([`ComposeFile`]), a template.
//! - [`stack`]: the Swarm stack ([`Stack`]), a template: replicas, rolling
//!   updates, Swarm configs named by their content.
//! - [`quoted`]: the one thing both templates need, their few free strings
//!   (names, images, subnet, tags) as YAML scalars.
//! - [`args`]: the command line.
//! - [`output`]: replacing the output file atomically.
//!
//! No top-level `name:` key: docker-compose v1 rejects it, so the project
//! name `tp0` comes from the Makefile (`-p tp0`), which works with v1 and v2.

pub mod args;
pub mod compose;
pub mod output;
pub mod stack;

pub use compose::ComposeFile;
pub use stack::Stack;

/// `text` as a YAML scalar that every reader (docker-compose v1 is PyYAML,
/// YAML 1.1; v2 is Go, YAML 1.2) reads back as the same string: plain where
/// that is unambiguous, else double-quoted with escapes, so a value never
/// turns into a number, a boolean, a null or a syntax error.
pub fn quoted(text: &str) -> String {
    if is_plain_safe(text) {
        return text.to_owned();
    }
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => out.extend(['\\', c]),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `text` reads back as the same string when written plain.
///
/// Deliberately narrow: a few ASCII characters, no indicator at the start,
/// no `:` at the end, nothing YAML 1.1 or 1.2 would resolve to another type:
/// booleans like `yes`/`off`, nulls, `.inf`, and numbers, be they in any base
/// (`0x1f`), with separators (`1_000`, sexagesimal `1:30`) or an exponent.
fn is_plain_safe(text: &str) -> bool {
    const RESERVED: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", ".nan",
    ];
    let lower = text.to_ascii_lowercase();
    let numeric = match ["0x", "0o", "0b"]
        .iter()
        .find_map(|p| lower.strip_prefix(p))
    {
        Some(digits) => {
            !digits.is_empty() && digits.chars().all(|c| c.is_ascii_hexdigit() || c == '_')
        }
        None => {
            let (mantissa, exponent) = lower.split_once('e').unwrap_or((&lower, "0"));
            let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            !exponent.is_empty()
                && exponent.chars().all(|c| c.is_ascii_digit())
                && mantissa.contains(|c: char| c.is_ascii_digit())
                && mantissa
                    .chars()
                    .all(|c| c.is_ascii_digit() || "_:.".contains(c))
        }
    };
    text.starts_with(|c: char| c.is_ascii_alphanumeric() || "_./".contains(c))
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./=:-".contains(c))
        && !text.ends_with(':')
        && !RESERVED.contains(&lower.as_str())
        && !numeric
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn plain_scalars_stay_plain() {
        for text in [
            "server",
            "server:latest",
            "registry:5000/server:abc",
            "./server/config.ini:/config.ini:ro",
            "CLI_ID=1",
            "172.25.125.0/24",
            "no-new-privileges:true",
            "timeout:1",
            "2s",
            "ALL",
            "client12",
            "server_config_564360382-21",
        ] {
            assert_eq!(quoted(text), text);
        }
    }

    #[test]
    fn ambiguous_scalars_are_quoted() {
        for text in [
            "", "1", "012", "1.5", "1_000", "1:30", "1e5", "1E+5", "-1", "+3", "0x1f", "0o17",
            "0b101", ".5", "true", "False", "yes", "NO", "on", "Off", "y", "N", "null", "~",
            ".inf", ".NaN", "a b", "a: b", "key:", "-dash", ":colon", "#hash", "a#b", "[x]", "{x}",
            "*ref", "&anchor", "!tag", "'q'", "%pct", "@at", "`tick`", "a,b", "°", "10.0.0.1",
        ] {
            assert_eq!(quoted(text), format!("\"{text}\""));
        }
    }

    #[test]
    fn quoting_escapes() {
        assert_eq!(
            quoted("say \"hi\"\\\n\t\r\u{1}°"),
            r#""say \"hi\"\\\n\t\r\u0001°""#
        );
        assert_eq!(quoted("\"q\""), r#""\"q\"""#);
        assert_eq!(quoted("line\nbreak"), r#""line\nbreak""#);
    }
}
