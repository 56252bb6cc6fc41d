//! A small YAML emitter for the fixed shape of a compose file.
//!
//! Only block style is written: mappings as `key: value`, sequences as
//! `- item`, indented by two spaces per level. A scalar is written plain when
//! every YAML 1.1 and 1.2 reader (docker-compose v1 is PyYAML, v2 is Go)
//! reads it back as the same string; otherwise it is double-quoted with
//! escapes, so a value is never turned into a number, a boolean, a null or a
//! syntax error.

use std::fmt::Write as _;

/// One YAML value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A string scalar (quoted as needed).
    Str(String),
    /// A boolean, written `true` / `false`.
    Bool(bool),
    /// A non-negative integer, written plain (Swarm's `replicas` and
    /// `parallelism` must be numbers, not strings).
    Int(u64),
    /// A sequence, written one `- item` per line.
    Seq(Vec<Node>),
    /// A mapping, written in the given order.
    Map(Vec<(String, Node)>),
}

impl Node {
    /// A string scalar.
    pub fn str(text: impl Into<String>) -> Self {
        Node::Str(text.into())
    }

    /// A sequence of string scalars.
    pub fn strs<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Self {
        Node::Seq(items.into_iter().map(Node::str).collect())
    }
}

/// Writes `root` as a YAML document, with `header` lines as `#` comments on
/// top and a blank line between the entries of a top-level mapping.
pub fn document(header: &[&str], root: &Node) -> String {
    let mut out = String::new();
    for line in header {
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
    match root {
        Node::Map(entries) => {
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                entry(&mut out, 0, key, value);
            }
        }
        other => block(&mut out, 0, other),
    }
    out
}

/// Writes `node` as a block at `indent`, starting on a fresh line.
fn block(out: &mut String, indent: usize, node: &Node) {
    match node {
        Node::Map(entries) if !entries.is_empty() => {
            for (key, value) in entries {
                entry(out, indent, key, value);
            }
        }
        Node::Seq(items) if !items.is_empty() => {
            for item in items {
                pad(out, indent);
                out.push('-');
                match item {
                    // The first key of a mapping shares the dash's line, the
                    // others line up under it.
                    Node::Map(entries) if !entries.is_empty() => {
                        out.push(' ');
                        let (key, value) = &entries[0];
                        entry_tail(out, indent + 2, key, value);
                        for (key, value) in &entries[1..] {
                            entry(out, indent + 2, key, value);
                        }
                    }
                    Node::Seq(inner) if !inner.is_empty() => {
                        out.push('\n');
                        block(out, indent + 2, item);
                    }
                    _ => {
                        out.push(' ');
                        inline(out, item);
                        out.push('\n');
                    }
                }
            }
        }
        _ => {
            pad(out, indent);
            inline(out, node);
            out.push('\n');
        }
    }
}

/// Writes `key: value` as a line at `indent`.
fn entry(out: &mut String, indent: usize, key: &str, value: &Node) {
    pad(out, indent);
    entry_tail(out, indent, key, value);
}

/// Writes `key: value` from the current position; nested blocks go one level
/// deeper than `indent`.
fn entry_tail(out: &mut String, indent: usize, key: &str, value: &Node) {
    scalar(out, key);
    out.push(':');
    match value {
        Node::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            block(out, indent + 2, value);
        }
        Node::Seq(items) if !items.is_empty() => {
            out.push('\n');
            block(out, indent + 2, value);
        }
        _ => {
            out.push(' ');
            inline(out, value);
            out.push('\n');
        }
    }
}

/// Writes a value that fits on the current line: a scalar or an empty
/// collection.
fn inline(out: &mut String, node: &Node) {
    match node {
        Node::Str(text) => scalar(out, text),
        Node::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
        Node::Int(value) => {
            let _ = write!(out, "{value}");
        }
        Node::Seq(_) => out.push_str("[]"),
        Node::Map(_) => out.push_str("{}"),
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Writes a string scalar, plain if that is unambiguous, else double-quoted.
fn scalar(out: &mut String, text: &str) {
    if is_plain_safe(text) {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `text` reads back as the same string when written plain.
///
/// Deliberately narrow: a few ASCII characters, nothing YAML 1.1 or 1.2 would
/// resolve to another type (booleans like `yes`/`off`, nulls, numbers in any
/// base, sexagesimal `1:30`, `.inf`), no indicator at the start and no `:` at
/// the end.
pub fn is_plain_safe(text: &str) -> bool {
    const RESERVED: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", ".nan",
    ];
    let Some(first) = text.chars().next() else {
        return false;
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_./=:-".contains(c);
    if !text.chars().all(allowed)
        || !(first.is_ascii_alphanumeric() || "_./".contains(first))
        || text.ends_with(':')
        || RESERVED.contains(&text.to_ascii_lowercase().as_str())
    {
        return false;
    }
    !looks_numeric(text)
}

/// Whether some YAML reader could take `text` for a number: digits with
/// separators (`1_000`, `1:30`, `1.5`), an exponent (`1e5`) or a base prefix
/// (`0x1f`, `0o17`, `0b101`).
fn looks_numeric(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let lower = body.to_ascii_lowercase();
    if let Some(digits) = ["0x", "0o", "0b"]
        .iter()
        .find_map(|prefix| lower.strip_prefix(prefix))
    {
        return !digits.is_empty() && digits.chars().all(|c| c.is_ascii_hexdigit() || c == '_');
    }
    let mantissa = match lower.split_once('e') {
        Some((mantissa, exponent)) => {
            let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if exponent.is_empty() || !exponent.chars().all(|c| c.is_ascii_digit()) {
                return false;
            }
            mantissa
        }
        None => &lower,
    };
    mantissa.chars().any(|c| c.is_ascii_digit())
        && mantissa
            .chars()
            .all(|c| c.is_ascii_digit() || "_:.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: Vec<(&str, Node)>) -> Node {
        Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    #[test]
    fn plain_scalars_stay_plain() {
        for text in [
            "server",
            "server:latest",
            "./server/config.ini:/config.ini:ro",
            "CLI_ID=1",
            "172.25.125.0/24",
            "no-new-privileges:true",
            "timeout:1",
            "2s",
            "ALL",
            "client12",
        ] {
            assert!(is_plain_safe(text), "{text}");
        }
    }

    #[test]
    fn ambiguous_scalars_are_quoted() {
        for text in [
            "",
            "1",
            "012",
            "1.5",
            "1_000",
            "1:30",
            "1e5",
            "1E+5",
            "-1",
            "+3",
            "0x1f",
            "0o17",
            "0b101",
            ".5",
            "true",
            "False",
            "yes",
            "NO",
            "on",
            "Off",
            "y",
            "N",
            "null",
            "~",
            ".inf",
            ".NaN",
            "a b",
            "a: b",
            "key:",
            "-dash",
            ":colon",
            "#hash",
            "a#b",
            "[x]",
            "{x}",
            "*ref",
            "&anchor",
            "!tag",
            "'q'",
            "\"q\"",
            "%pct",
            "@at",
            "`tick`",
            "a,b",
            "line\nbreak",
            "°",
            "10.0.0.1",
        ] {
            assert!(!is_plain_safe(text), "{text:?}");
        }
    }

    #[test]
    fn quoting_escapes() {
        let mut out = String::new();
        scalar(&mut out, "say \"hi\"\\\n\t\r\u{1}°");
        assert_eq!(out, r#""say \"hi\"\\\n\t\r\u0001°""#);
        let mut out = String::new();
        scalar(&mut out, "1");
        assert_eq!(out, "\"1\"");
    }

    #[test]
    fn nested_block_layout() {
        let root = map(vec![
            (
                "services",
                map(vec![(
                    "a",
                    map(vec![
                        ("image", Node::str("a:latest")),
                        ("read_only", Node::Bool(true)),
                        ("replicas", Node::Int(3)),
                        ("environment", Node::strs(["X=1"])),
                        ("empty", Node::Seq(vec![])),
                        ("none", Node::Map(vec![])),
                    ]),
                )]),
            ),
            (
                "networks",
                map(vec![(
                    "net",
                    map(vec![(
                        "ipam",
                        map(vec![(
                            "config",
                            Node::Seq(vec![map(vec![
                                ("subnet", Node::str("10.0.0.0/24")),
                                ("gateway", Node::str("10.0.0.1")),
                            ])]),
                        )]),
                    )]),
                )]),
            ),
        ]);
        assert_eq!(
            document(&["generated", "", "by a test"], &root),
            "\
# generated
#
# by a test
services:
  a:
    image: a:latest
    read_only: true
    replicas: 3
    environment:
      - X=1
    empty: []
    none: {}

networks:
  net:
    ipam:
      config:
        - subnet: 10.0.0.0/24
          gateway: \"10.0.0.1\"
"
        );
    }

    #[test]
    fn sequences_of_sequences_and_root_scalars() {
        let root = Node::Seq(vec![Node::strs(["a", "b"]), Node::str("true")]);
        assert_eq!(document(&[], &root), "-\n  - a\n  - b\n- \"true\"\n");
        assert_eq!(document(&[], &Node::Bool(false)), "false\n");
    }
}
