//! The contract's log lines read back: `YYYY-MM-DD HH:MM:SS LEVEL    action:
//! <action> | result: <result>[ | <key>: <value>]...`, as `app` writes them.
//! Only tests read the lines, so the parser lives here and not in the
//! product.

/// One log line taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLine<'a> {
    /// `YYYY-MM-DD HH:MM:SS`.
    pub timestamp: &'a str,
    /// `ERROR`, `WARNING`, `INFO` or `DEBUG`.
    pub level: &'a str,
    /// The `action` field.
    pub action: &'a str,
    /// `success`, `fail` or `in_progress`.
    pub result: &'a str,
    /// The fields after `result`, in order, values still escaped.
    pub fields: Vec<(&'a str, &'a str)>,
}

impl ParsedLine<'_> {
    /// The value of a field after `result`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// The message: everything from `action:` on.
    pub fn message(&self) -> String {
        let mut text = format!("action: {} | result: {}", self.action, self.result);
        for (key, value) in &self.fields {
            text.push_str(&format!(" | {key}: {value}"));
        }
        text
    }
}

/// Parses a line of the contract's format; `None` if it is off the format
/// in any way (timestamp, level padding, field shape, result word).
pub fn parse_line(line: &str) -> Option<ParsedLine<'_>> {
    let timestamp = line.get(..19)?;
    let shape_ok = timestamp.char_indices().all(|(i, c)| match i {
        4 | 7 => c == '-',
        10 => c == ' ',
        13 | 16 => c == ':',
        _ => c.is_ascii_digit(),
    });
    let level_field = line.get(19..29)?;
    let level = level_field[1..9].trim_end();
    let level_ok = level_field.starts_with(' ')
        && level_field.ends_with(' ')
        && ["ERROR", "WARNING", "INFO", "DEBUG"].contains(&level)
        && level_field[1..9] == format!("{level:<8}");
    if !shape_ok || !level_ok {
        return None;
    }
    let mut parts = line.get(29..)?.split(" | ");
    let action = parts.next()?.strip_prefix("action: ")?;
    let result = parts.next()?.strip_prefix("result: ")?;
    if !["success", "fail", "in_progress"].contains(&result) {
        return None;
    }
    let fields = parts
        .map(|part| part.split_once(": "))
        .collect::<Option<Vec<_>>>()?;
    Some(ParsedLine {
        timestamp,
        level,
        action,
        result,
        fields,
    })
}
