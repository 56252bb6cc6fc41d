//! `config.yaml`: the client's file format. Only the client reads YAML, so
//! only the client links a YAML parser.

use std::collections::HashMap;

use app::config::FileValues;
use yaml_rust2::parser::Parser;
use yaml_rust2::scanner::Marker;
use yaml_rust2::Event;

/// Deepest nesting of mappings and lists accepted. The client's keys are two
/// levels deep; the parser's loader recurses once per level, so a line of
/// `- - - …` a few hundred kilobytes long would overflow the stack.
const MAX_DEPTH: usize = 32;
/// Most nodes (scalars, mappings, lists) accepted: a real `config.yaml` has
/// about ten, and the tree built costs far more memory than its text.
const MAX_NODES: usize = 10_000;

/// Parses a YAML file into dotted keys (`server.address`) with scalar values
/// as text. Nulls are skipped (an empty key is unset); a list is kept as the
/// text `(a list)`, so that it is reported, unknown or invalid, not dropped.
/// The text is checked by `check_bounded` before any tree is built.
pub fn parse_yaml(text: &str) -> Result<FileValues, String> {
    use yaml_rust2::{Yaml, YamlLoader};

    fn flatten(prefix: &str, node: &Yaml, out: &mut HashMap<String, String>) {
        let text = match node {
            Yaml::Hash(map) => {
                for (key, value) in map {
                    let key = match key {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        _ => continue,
                    };
                    let path = if prefix.is_empty() {
                        key
                    } else {
                        format!("{prefix}.{key}")
                    };
                    flatten(&path, value, out);
                }
                return;
            }
            Yaml::String(s) => s.clone(),
            Yaml::Integer(i) => i.to_string(),
            Yaml::Real(r) => r.clone(),
            Yaml::Boolean(b) => b.to_string(),
            Yaml::Array(_) => "(a list)".to_owned(),
            _ => return,
        };
        out.insert(prefix.to_owned(), text);
    }

    check_bounded(text)?;
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    let mut values = HashMap::new();
    match docs.first() {
        None | Some(Yaml::Null) => {}
        Some(root @ Yaml::Hash(_)) => flatten("", root, &mut values),
        Some(_) => return Err("expected a mapping of keys at the top level".to_owned()),
    }
    Ok(values.into())
}

/// Reads the parser's events, building nothing, and refuses what would make
/// the tree unbounded: an alias (`*name`) repeats the node its anchor names,
/// so a few hundred bytes of aliases of aliases expand to millions of nodes
/// ("billion laughs"); the config has no use for them. Nesting and the node
/// count are bounded as well ([`MAX_DEPTH`], [`MAX_NODES`]).
fn check_bounded(text: &str) -> Result<(), String> {
    fn at(mark: Marker) -> String {
        format!("at line {} column {}", mark.line(), mark.col() + 1)
    }
    let mut parser = Parser::new_from_str(text);
    let (mut depth, mut nodes) = (0usize, 0usize);
    loop {
        let (event, mark) = parser.next_token().map_err(|e| e.to_string())?;
        match event {
            Event::Alias(_) => {
                return Err(format!(
                    "YAML aliases (*name) are not accepted in a config file, {}",
                    at(mark)
                ))
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                nodes += 1;
                if depth > MAX_DEPTH {
                    return Err(format!(
                        "nested more than {MAX_DEPTH} levels deep, {}",
                        at(mark)
                    ));
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth -= 1,
            Event::Scalar(..) => nodes += 1,
            Event::StreamEnd => return Ok(()),
            _ => {}
        }
        if nodes > MAX_NODES {
            return Err(format!("more than {MAX_NODES} values, {}", at(mark)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_flattens_to_dotted_keys() {
        let text = "server:\n  address: \"server:12345\"\nloop:\n  amount: 5\n  period: \"5s\"\nlog:\n  level: \"INFO\"\nbatch:\n  maxAmount: 10\nid: 3\n";
        let values = parse_yaml(text).unwrap().values;
        assert_eq!(values["server.address"], "server:12345");
        assert_eq!(values["loop.amount"], "5");
        assert_eq!(values["loop.period"], "5s");
        assert_eq!(values["log.level"], "INFO");
        assert_eq!(values["id"], "3");
        assert!(parse_yaml("").unwrap().values.is_empty());
        assert_eq!(parse_yaml("a:\n  - 1\nb:\n").unwrap().values.len(), 1);
        assert!(parse_yaml("- a\n- b\n").is_err());
        assert!(parse_yaml("a: [").is_err());
    }

    #[test]
    fn aliases_are_refused_before_anything_is_expanded() {
        let bomb = testkit::yaml_alias_bomb();
        let error = parse_yaml(&bomb).unwrap_err();
        assert_eq!(
            error,
            "YAML aliases (*name) are not accepted in a config file, at line 2 column 8"
        );
        let error = parse_yaml("id: &id 3\nloop:\n  amount: *id\n").unwrap_err();
        assert!(error.ends_with("at line 3 column 11"), "{error}");
        // An anchor alone repeats nothing: accepted.
        assert_eq!(parse_yaml("id: &id 3\n").unwrap().values["id"], "3");
    }

    #[test]
    fn nesting_and_node_count_are_bounded() {
        let deep = format!("a:\n{}x\n", "- ".repeat(200_000));
        let error = parse_yaml(&deep).unwrap_err();
        assert!(
            error.starts_with("nested more than 32 levels deep"),
            "{error}"
        );
        let nested = format!("a:\n{}x\n", "- ".repeat(31));
        assert!(parse_yaml(&nested).is_ok());
        let many = format!("a: [{}]\n", vec!["1"; 20_000].join(","));
        let error = parse_yaml(&many).unwrap_err();
        assert!(error.starts_with("more than 10000 values"), "{error}");
    }
}
