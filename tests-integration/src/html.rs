//! Just enough of an HTML reader for the DOM Chromium dumps (`--dump-dom`): the start tags of
//! one name with their attributes, the text between a start tag and its end tag.
//!
//! Chromium serialises the DOM regularly (lower-case names, every attribute value in double
//! quotes, `&amp;` `&lt;` `&gt;` `&quot;` escaped), so no general parser is needed; elements
//! read with [`inner_text`] must not nest in themselves (a `<tr>`, a `<span>`, a `<title>`).

use std::collections::BTreeMap;

/// One start tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// Its attributes, values unescaped; a bare attribute has an empty value.
    pub attrs: BTreeMap<String, String>,
    /// Where the element's content starts: just after the start tag's `>`.
    pub content_start: usize,
}

impl Tag {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    /// Whether its `class` attribute lists `class`.
    pub fn has_class(&self, class: &str) -> bool {
        self.attr("class").is_some_and(|c| c.split_whitespace().any(|c| c == class))
    }
}

/// Every start tag named `name` in `html`, in document order.
pub fn tags(html: &str, name: &str) -> Vec<Tag> {
    let open = format!("<{name}");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = html[from..].find(&open) {
        let at = from + found + open.len();
        from = at;
        // `<tr` must not match `<track`.
        match html[at..].chars().next() {
            Some(c) if c.is_ascii_whitespace() || c == '>' || c == '/' => {}
            _ => continue,
        }
        let Some((attrs, end)) = attributes(&html[at..]) else { break };
        out.push(Tag { attrs, content_start: at + end });
        from = at + end;
    }
    out
}

/// The first start tag named `name` whose attribute `attr` is `value`.
pub fn find(html: &str, name: &str, attr: &str, value: &str) -> Option<Tag> {
    tags(html, name).into_iter().find(|t| t.attr(attr) == Some(value))
}

/// The text of element `tag` (named `name`) up to its end tag, with inner tags removed and
/// entities unescaped.
pub fn inner_text(html: &str, tag: &Tag, name: &str) -> String {
    let rest = &html[tag.content_start..];
    let end = rest.find(&format!("</{name}>")).unwrap_or(rest.len());
    text(&rest[..end])
}

/// The HTML of element `tag` (named `name`) up to its end tag.
pub fn inner_html<'a>(html: &'a str, tag: &Tag, name: &str) -> &'a str {
    let rest = &html[tag.content_start..];
    let end = rest.find(&format!("</{name}>")).unwrap_or(rest.len());
    &rest[..end]
}

/// `fragment` without its tags, entities unescaped, white space folded.
pub fn text(fragment: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in fragment.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The attributes of a start tag whose name was just read, and where its `>` ends; `None`
/// when the tag never ends.
fn attributes(s: &str) -> Option<(BTreeMap<String, String>, usize)> {
    let bytes = s.as_bytes();
    let mut attrs = BTreeMap::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        match bytes.get(i)? {
            b'>' => return Some((attrs, i + 1)),
            _ => {
                let start = i;
                while i < bytes.len() && !b" \t\r\n=>/".contains(&bytes[i]) {
                    i += 1;
                }
                let name = s[start..i].to_ascii_lowercase();
                if bytes.get(i) == Some(&b'=') && bytes.get(i + 1) == Some(&b'"') {
                    let value_start = i + 2;
                    let value_end = value_start + s[value_start..].find('"')?;
                    attrs.insert(name, unescape(&s[value_start..value_end]));
                    i = value_end + 1;
                } else {
                    attrs.insert(name, String::new());
                }
            }
        }
    }
}

/// `s` with the entities Chromium writes (and numeric ones) unescaped.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => entity
                .strip_prefix('#')
                .and_then(|n| match n.strip_prefix('x') {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse().ok(),
                })
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOM: &str = r#"<html><body><table><tbody>
        <tr class="table-row unhealthy" data-name="acme.prod.logs"><td>acme</td>
        <td class="num" data-sort="55"><span class="score unhealthy">55</span></td></tr>
        <track src="x"><tr class="table-row healthy" data-name="a&amp;b &quot;c&quot;"><td>&lt;b&gt; &#60;i&#62;</td></tr>
        </tbody></table><input disabled value="x"><svg><rect x="1" data-files="6"><title>t: 6 files</title></rect></svg></body></html>"#;

    #[test]
    fn reads_tags_attributes_and_text() {
        let rows = tags(DOM, "tr");
        assert_eq!(rows.len(), 2);
        assert!(rows[0].has_class("unhealthy") && !rows[0].has_class("unhealth"));
        assert_eq!(rows[1].attr("data-name"), Some("a&b \"c\""));
        assert_eq!(inner_text(DOM, &rows[1], "tr"), "<b> <i>");
        let row = find(DOM, "tr", "data-name", "acme.prod.logs").unwrap();
        let cell = inner_html(DOM, &row, "tr");
        let score = &tags(cell, "span")[0];
        assert_eq!(inner_text(cell, score, "span"), "55");
        let input = &tags(DOM, "input")[0];
        assert_eq!((input.attr("disabled"), input.attr("value")), (Some(""), Some("x")));
        let rect = &tags(DOM, "rect")[0];
        assert_eq!(rect.attr("data-files"), Some("6"));
        assert_eq!(inner_text(DOM, &tags(DOM, "title")[0], "title"), "t: 6 files");
    }
}
