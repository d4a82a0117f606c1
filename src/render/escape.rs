//! Escaping for each place a report's text lands: HTML and SVG markup,
//! Markdown (the Markdown report and decision records, and the `CommonMark`
//! descriptions of the generated API documents), and the values of GitHub
//! workflow commands. One module that the renderers of each format share,
//! so none of them imports another for it.

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

/// Text written by a user, inert in Markdown: control and bidirectional
/// characters escaped ([`escape_controls`]), HTML become entities and
/// Markdown's punctuation escaped, so it shows as written and cannot add a
/// comment, tag, link, image or heading, nor reorder what a reader sees.
pub fn markdown_inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in escape_controls(text).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '!' | '#' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Rule text keeps its Markdown (code spans) but carries no HTML, and no
/// control or bidirectional characters ([`escape_controls`]).
pub fn markdown_no_html(text: &str) -> String {
    escape_controls(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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

    #[test]
    fn user_text_carries_no_escape_sequence_or_bidirectional_override() {
        let hostile = "x\u{1b}[31mRED\u{202e}gnp.exe\u{2066}";
        for shown in [markdown_inert(hostile), markdown_no_html(hostile)] {
            assert!(
                !shown.contains(['\u{1b}', '\u{202e}', '\u{2066}']),
                "{shown:?}"
            );
            assert!(shown.contains("u{1b}"), "{shown:?}");
        }
        assert_eq!(
            markdown_no_html(hostile),
            "x\\u{1b}[31mRED\\u{202e}gnp.exe\\u{2066}"
        );
    }

    #[test]
    fn rule_text_keeps_code_spans_but_no_html() {
        assert_eq!(
            markdown_no_html("set `acks=all` <script>"),
            "set `acks=all` &lt;script&gt;"
        );
    }
}
