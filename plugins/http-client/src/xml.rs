//! A minimal XML reader for the response bodies of S3 and Azure Blob: elements, text, the five
//! predefined entities and character references, CDATA; comments, processing
//! instructions and a DOCTYPE are skipped, attributes and namespaces ignored
//! (elements are named by their local name). Enough for the few documents the
//! client reads, without a parser dependency in every plugin.

/// Deepest nesting accepted; the services' documents are three or four levels deep.
const MAX_DEPTH: usize = 32;

/// One element: its local name, its own text (entity-decoded, the text
/// pieces between its children concatenated) and its child elements.
#[derive(Debug, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child called `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// The document element of `doc`, or why it is not well-formed enough.
pub fn parse(doc: &str) -> Result<Element, String> {
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut rest = doc;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            push_text(&mut stack, rest)?;
            break;
        };
        push_text(&mut stack, &rest[..lt])?;
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<?") {
            rest = skip_past(after, "?>")?;
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = skip_past(after, "-->")?;
        } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after.find("]]>").ok_or("unterminated CDATA section")?;
            let top = stack
                .last_mut()
                .ok_or("text outside the document element")?;
            top.text.push_str(&after[..end]);
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("<!") {
            rest = skip_past(after, ">")?;
        } else if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>').ok_or("unterminated end tag")?;
            let name = local_name(after[..end].trim());
            let element = stack.pop().ok_or("end tag without a start tag")?;
            if element.name != name {
                return Err(format!(
                    "end tag </{name}> does not close <{}>",
                    element.name
                ));
            }
            close(&mut stack, &mut root, element)?;
            rest = &after[end + 1..];
        } else {
            let end = tag_end(&rest[1..]).ok_or("unterminated start tag")? + 1;
            let inner = &rest[1..end];
            let (inner, empty) = match inner.strip_suffix('/') {
                Some(inner) => (inner, true),
                None => (inner, false),
            };
            let name = inner
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or_default();
            if name.is_empty() {
                return Err("a tag without a name".into());
            }
            if stack.len() >= MAX_DEPTH {
                return Err("elements nested too deeply".into());
            }
            if root.is_some() {
                return Err("content after the document element".into());
            }
            let element = Element {
                name: local_name(name).to_owned(),
                ..Element::default()
            };
            if empty {
                close(&mut stack, &mut root, element)?;
            } else {
                stack.push(element);
            }
            rest = &rest[end + 1..];
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("element <{}> is not closed", open.name));
    }
    root.ok_or_else(|| "no document element".into())
}

/// Adds a finished element to its parent, or makes it the document element.
fn close(
    stack: &mut [Element],
    root: &mut Option<Element>,
    element: Element,
) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err("more than one document element".into()),
    }
    Ok(())
}

fn push_text(stack: &mut [Element], raw: &str) -> Result<(), String> {
    match stack.last_mut() {
        Some(top) => {
            decode_into(raw, &mut top.text)?;
            Ok(())
        }
        None if raw.trim().is_empty() => Ok(()),
        None => Err("text outside the document element".into()),
    }
}

fn skip_past<'a>(s: &'a str, end: &str) -> Result<&'a str, String> {
    s.find(end)
        .map(|i| &s[i + end.len()..])
        .ok_or_else(|| format!("missing {end:?}"))
}

/// Offset of the `>` ending a start tag, skipping quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '>') => return Some(i),
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
    }
    None
}

fn local_name(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, local)| local)
}

/// Appends `raw` to `out` with entity and character references decoded.
fn decode_into(raw: &str, out: &mut String) -> Result<(), String> {
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after
            .find(';')
            .filter(|&i| i <= 10)
            .ok_or("an unterminated `&` reference")?;
        let reference = &after[..semi];
        let c = match reference {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = reference
                    .strip_prefix("#x")
                    .or_else(|| reference.strip_prefix("#X"))
                {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = reference.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown reference &{reference};"))?
            }
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_elements_and_text() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <Contents><Key>a &amp; b</Key><Size>5</Size></Contents>
  <Contents><Key>c</Key><Size>6</Size><Owner/></Contents>
</ListBucketResult>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "ListBucketResult");
        assert_eq!(root.child_text("Name"), Some("bucket"));
        let keys: Vec<_> = root
            .children("Contents")
            .filter_map(|c| c.child_text("Key"))
            .collect();
        assert_eq!(keys, ["a & b", "c"]);
        assert!(root.children[2].child("Owner").is_some());
    }

    #[test]
    fn decodes_references_and_cdata() {
        let root = parse("<a>&lt;&gt;&quot;&apos;&#233;&#x1F600;<![CDATA[<raw&>]]></a>").unwrap();
        assert_eq!(root.text, "<>\"'é😀<raw&>");
    }

    #[test]
    fn ignores_attributes_and_prefixes() {
        let root =
            parse(r#"<s3:Error a="x>y" b='1'><s3:Code>NoSuchKey</s3:Code></s3:Error>"#).unwrap();
        assert_eq!(root.name, "Error");
        assert_eq!(root.child_text("Code"), Some("NoSuchKey"));
    }

    #[test]
    fn refuses_malformed_documents() {
        for bad in [
            "",
            "text",
            "<a>",
            "<a></b>",
            "<a>&bogus;</a>",
            "<a>&amp</a>",
            "<a/><b/>",
            "</a>",
            "<a><![CDATA[x</a>",
            "<>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(parse(&deep).is_err());
    }
}
