//! Configuration errors that name the file, the line and the field.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    file: PathBuf,
    /// 1-based line and column, when the problem can be placed in the file.
    position: Option<(usize, usize)>,
    field: Option<String>,
    message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl ConfigError {
    pub(super) fn io(file: &Path, err: std::io::Error) -> Self {
        Self {
            file: file.into(),
            position: None,
            field: None,
            message: format!("cannot read: {err}"),
        }
    }

    /// A TOML syntax or type error; the field is recovered from where the error points.
    pub(super) fn syntax(file: &Path, text: &str, err: &toml::de::Error) -> Self {
        let span = err.span();
        let field = span.clone().and_then(|span| field_at(text, &span));
        Self {
            file: file.into(),
            position: span.map(|s| line_column(text, s.start)),
            field,
            message: err.message().trim().to_string(),
        }
    }

    /// A value that parsed but is not acceptable.
    pub(super) fn invalid(file: &Path, text: &str, field: &str, message: String) -> Self {
        let position = span_of(text, field).map(|s| line_column(text, s.start));
        Self {
            file: file.into(),
            position,
            field: Some(field.to_string()),
            message,
        }
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Where the key `a.b[1].c` is written in the file.
fn span_of(text: &str, field: &str) -> Option<Range<usize>> {
    let root = DeTable::parse(text).ok()?;
    let mut table = root.get_ref();
    let mut found = None;
    let mut parts = field.split('.').peekable();
    while let Some(part) = parts.next() {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let (key, value) = table.get_key_value(name)?;
        found = Some(key.span());
        let mut value = value;
        if let (Some(i), DeValue::Array(items)) = (index, value.get_ref()) {
            value = items.get(i)?;
            found = Some(value.span());
        }
        match (parts.peek(), value.get_ref()) {
            (Some(_), DeValue::Table(inner)) => table = inner,
            (Some(_), _) => return found,
            (None, _) => {}
        }
    }
    found
}

/// The dotted key whose key or value contains `span`, as deep as it goes.
fn field_at(text: &str, span: &Range<usize>) -> Option<String> {
    let root = DeTable::parse(text).ok()?;
    let mut path = String::new();
    walk(root.get_ref(), span, &mut path).then_some(path)
}

fn walk(table: &DeTable<'_>, span: &Range<usize>, path: &mut String) -> bool {
    for (key, value) in table {
        let inside = |r: Range<usize>| r.start <= span.start && span.start < r.end.max(r.start + 1);
        if !(inside(key.span()) || inside(value.span()) || contains_deep(value.get_ref(), span)) {
            continue;
        }
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key.get_ref());
        match value.get_ref() {
            DeValue::Table(inner) => {
                walk(inner, span, path);
            }
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let DeValue::Table(inner) = item.get_ref() {
                        let before = path.len();
                        path.push_str(&format!("[{i}]"));
                        if walk(inner, span, path) || inside(item.span()) {
                            break;
                        }
                        path.truncate(before);
                    }
                }
            }
            _ => {}
        }
        return true;
    }
    false
}

fn contains_deep(value: &DeValue<'_>, span: &Range<usize>) -> bool {
    let hit = |r: Range<usize>| r.start <= span.start && span.start < r.end;
    match value {
        DeValue::Table(t) => t
            .iter()
            .any(|(k, v)| hit(k.span()) || hit(v.span()) || contains_deep(v.get_ref(), span)),
        DeValue::Array(a) => a
            .iter()
            .any(|v| hit(v.span()) || contains_deep(v.get_ref(), span)),
        _ => false,
    }
}
