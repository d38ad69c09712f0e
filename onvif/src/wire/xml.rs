//! A small namespace-aware element tree over quick-xml, with limits fit for network input.
//!
//! SOAP bodies are small, and reading them as a tree lets every operation look its fields up
//! by namespace and local name, whatever prefixes the client chose.

use std::borrow::Cow;

use quick_xml::events::attributes::{AttrError, Attribute as XmlAttribute};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Limits that keep a hostile document from costing much.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_elements: 5_000,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    #[error("not well-formed XML: {0}")]
    Syntax(String),
    #[error("no root element")]
    Empty,
    #[error("elements nested deeper than {0}")]
    TooDeep(usize),
    #[error("more than {0} elements")]
    TooMany(usize),
    #[error("document type declarations are not accepted")]
    Doctype,
    #[error("unknown entity &{0};")]
    Entity(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub ns: String,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI ("" when unqualified).
    pub ns: String,
    pub name: String,
    pub attrs: Vec<Attribute>,
    pub children: Vec<Element>,
    /// Text directly inside this element, trimmed.
    pub text: String,
    /// Namespace declarations made on this element: (prefix, URI), prefix "" for the default.
    /// Needed to read QNames in text, such as WS-Discovery's `dn:NetworkVideoTransmitter`.
    pub declarations: Vec<(String, String)>,
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// The first child with this local name, in any namespace (ONVIF clients disagree on
    /// which schema namespace some inner elements belong to).
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Text of a child element.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Follows a path of local names.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_str())
    }
}

fn namespace(r: &ResolveResult<'_>) -> String {
    match r {
        ResolveResult::Bound(ns) => AsRef::<str>::as_ref(ns).to_string(),
        _ => String::new(),
    }
}

fn entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// Parses a document and returns its root element.
pub fn parse(input: &str, limits: Limits) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_str(input);
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    let syntax = |e: quick_xml::Error| XmlError::Syntax(e.to_string());
    loop {
        let (resolved, event) = reader.read_resolved_event().map_err(syntax)?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooMany(limits.max_elements));
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep(limits.max_depth));
                }
                let ns = namespace(&resolved);
                let element = open(&reader, ns, start)?;
                if matches!(event, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(element),
                        None => return Ok(element),
                    }
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let Some(mut done) = stack.pop() else {
                    return Err(XmlError::Syntax("unbalanced end tag".into()));
                };
                done.text = done.text.trim().to_string();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::Text(text) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&text.xml10_content());
                } else if !text.xml10_content().trim().is_empty() {
                    return Err(XmlError::Syntax("text outside the root element".into()));
                }
            }
            Event::CData(data) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&data.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref().map_err(syntax)?
                } else {
                    entity(&r.xml10_content())
                };
                let c = c.ok_or_else(|| XmlError::Entity(r.xml10_content().into_owned()))?;
                if let Some(current) = stack.last_mut() {
                    current.text.push(c);
                }
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Eof => {
                return Err(if stack.is_empty() {
                    XmlError::Empty
                } else {
                    XmlError::Syntax("unexpected end".into())
                });
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
}

/// A start tag (whose namespace is `ns`) as an element: its name, its attributes resolved, and the
/// namespace declarations it makes (kept, so that QName values can be resolved later).
fn open(reader: &NsReader<&[u8]>, ns: String, start: &BytesStart) -> Result<Element, XmlError> {
    let syntax = |e: AttrError| XmlError::Syntax(e.to_string());
    let value = |attr: &XmlAttribute| {
        attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map(|v| v.into_owned())
            .map_err(|e| XmlError::Syntax(e.to_string()))
    };
    let mut element = Element {
        ns,
        name: AsRef::<str>::as_ref(&start.local_name()).to_string(),
        ..Default::default()
    };
    for attr in start.attributes() {
        let attr = attr.map_err(syntax)?;
        let key: &str = attr.key.as_ref();
        if key == "xmlns" || key.starts_with("xmlns:") {
            let prefix = key.strip_prefix("xmlns:").unwrap_or("");
            element
                .declarations
                .push((prefix.to_string(), value(&attr)?));
            continue;
        }
        let (ns, local) = reader.resolver().resolve_attribute(attr.key);
        element.attrs.push(Attribute {
            ns: namespace(&ns),
            name: AsRef::<str>::as_ref(&local).to_string(),
            value: value(&attr)?,
        });
    }
    Ok(element)
}

/// Escapes text for element content and attribute values.
pub fn escape(s: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_namespaces_whatever_the_prefix() {
        for doc in [
            r#"<a:Envelope xmlns:a="urn:x"><a:Body><b:Op xmlns:b="urn:y" b:k="v">t&amp;u&#65;</b:Op></a:Body></a:Envelope>"#,
            r#"<Envelope xmlns="urn:x"><Body><Op xmlns="urn:y" xmlns:z="urn:y" z:k="v">t&amp;u<![CDATA[A]]></Op></Body></Envelope>"#,
        ] {
            let root = parse(doc, Limits::default()).expect("parses");
            assert!(root.is("urn:x", "Envelope"));
            let op = root.path(&["Body", "Op"]).expect("op");
            assert!(op.is("urn:y", "Op"));
            assert_eq!(op.text, "t&uA");
            assert_eq!(op.attr("k"), Some("v"));
        }
    }

    #[test]
    fn refuses_what_it_should() {
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert_eq!(parse(&deep, Limits::default()), Err(XmlError::TooDeep(32)));
        let many = format!("<a>{}</a>", "<b/>".repeat(6000));
        assert_eq!(
            parse(&many, Limits::default()),
            Err(XmlError::TooMany(5000))
        );
        assert_eq!(
            parse(
                "<!DOCTYPE x [<!ENTITY e 'x'>]><a>&e;</a>",
                Limits::default()
            ),
            Err(XmlError::Doctype)
        );
        assert!(matches!(
            parse("<a>&e;</a>", Limits::default()),
            Err(XmlError::Entity(_))
        ));
        assert!(parse("", Limits::default()).is_err());
        assert!(parse("<a><b></a>", Limits::default()).is_err());
        assert!(parse("not xml", Limits::default()).is_err());
        assert!(parse("<a>", Limits::default()).is_err());
    }
}
