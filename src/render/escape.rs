//! Escaping for each place a report's text lands: HTML and SVG markup,
//! and the values of GitHub workflow commands. One module that the
//! renderers of each format share, so none of them imports another for it.

use crate::error::escape_controls;

/// Text safe inside HTML elements and double-quoted attributes, with no
/// control or bidirectional characters ([`escape_controls`]): those are not
/// allowed in the SVG's XML, and would reorder what the reader sees.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in escape_controls(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a workflow command's message, as the GitHub runner unescapes it.
pub fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value: also `:` and `,`, which
/// would end it.
pub fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_in_user_text() {
        assert_eq!(
            html("<b>\"fish\" & 'chips'</b>"),
            "&lt;b&gt;&quot;fish&quot; &amp; &#39;chips&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn escapes_control_and_bidirectional_characters() {
        assert_eq!(
            html("x\u{1b}[31m\u{202e}<b>"),
            "x\\u{1b}[31m\\u{202e}&lt;b&gt;"
        );
    }

    #[test]
    fn workflow_command_values_are_escaped() {
        assert_eq!(data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
    }
}
