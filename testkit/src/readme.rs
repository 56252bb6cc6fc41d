//! The Markdown tables of the README and the docs, read so that tests keep
//! them true.

use std::path::Path;

/// The Markdown table of `doc` (a path from the repository root, say
/// `docs/configuration.md`) under the heading line that starts with
/// `heading` (say `## Server settings`): for each row, the cells of
/// `columns` (named as in the table's header), trimmed and without
/// backticks. Panics, naming what is missing, if the heading, the table or
/// a column is not there.
pub fn doc_table(doc: &str, heading: &str, columns: &[&str]) -> Vec<Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(doc);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines().skip_while(|l| !l.starts_with(heading));
    assert!(lines.next().is_some(), "no heading {heading:?} in {doc}");
    let rows: Vec<Vec<String>> = lines
        .take_while(|l| !l.starts_with('#'))
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .map(markdown_cells)
        .collect();
    let (header, body) = match rows.split_first() {
        // The second line is the `|---|` separator.
        Some((header, body)) if !body.is_empty() => (header, &body[1..]),
        _ => panic!("no table under {heading:?} in {doc}"),
    };
    let picked: Vec<usize> = columns
        .iter()
        .map(|name| {
            header.iter().position(|h| h == name).unwrap_or_else(|| {
                panic!("no column {name:?} in the table under {heading:?} in {doc}: {header:?}")
            })
        })
        .collect();
    body.iter()
        .map(|row| {
            picked
                .iter()
                .map(|&i| row.get(i).cloned().unwrap_or_default())
                .collect()
        })
        .collect()
}

/// The cells of one Markdown table row; `\|` is a `|` inside a cell.
fn markdown_cells(line: &str) -> Vec<String> {
    let line = line.trim().trim_start_matches('|');
    let mut cells = vec![String::new()];
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cells.last_mut().unwrap().push('|');
                chars.next();
            }
            '|' => cells.push(String::new()),
            '`' => {}
            c => cells.last_mut().unwrap().push(c),
        }
    }
    if line.ends_with('|') {
        cells.pop();
    }
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

/// Panics with a diff unless `found` holds exactly the rows of `expected`,
/// rows matched by their first cell, in any order.
pub fn assert_same_rows(what: &str, expected: &[Vec<String>], found: &[Vec<String>]) {
    let by_key = |rows: &[Vec<String>]| {
        let mut map = std::collections::BTreeMap::new();
        let mut repeated = Vec::new();
        for row in rows {
            if map.insert(row[0].clone(), row.join(" | ")).is_some() {
                repeated.push(row[0].clone());
            }
        }
        (map, repeated)
    };
    let (want, _) = by_key(expected);
    let (have, repeated) = by_key(found);
    let mut diff: Vec<String> = repeated
        .iter()
        .map(|key| format!("  {key}: more than one row"))
        .collect();
    for (key, row) in &want {
        match have.get(key) {
            None => diff.push(format!("  - {row}    (missing)")),
            Some(other) if other != row => {
                diff.push(format!("  - {row}"));
                diff.push(format!("  + {other}"));
            }
            Some(_) => {}
        }
    }
    for (key, row) in &have {
        if !want.contains_key(key) {
            diff.push(format!("  + {row}    (no such setting)"));
        }
    }
    assert!(
        diff.is_empty(),
        "{what}: - is what it should say, + what it says\n{}",
        diff.join("\n")
    );
}
