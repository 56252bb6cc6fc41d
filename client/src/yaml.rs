//! `config.yaml`: the client's file format. Only the client reads YAML, so
//! only the client links a YAML parser.

use std::collections::HashMap;

use app::config::FileValues;

/// Parses a YAML file into dotted keys (`server.address`) with scalar values
/// as text. Nulls are skipped (an empty key is unset); a list is kept as the
/// text `(a list)`, so that it is reported, unknown or invalid, not dropped.
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

    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    let mut values = HashMap::new();
    match docs.first() {
        None | Some(Yaml::Null) => {}
        Some(root @ Yaml::Hash(_)) => flatten("", root, &mut values),
        Some(_) => return Err("expected a mapping of keys at the top level".to_owned()),
    }
    Ok(values.into())
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
}
