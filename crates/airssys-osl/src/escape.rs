//! Text from an untrusted party (a guest's log message, a refused target, a command line),
//! made safe to put in a log line: it can never end the line, start a fake one, or drive a
//! terminal.

use std::fmt;

/// Displays a string with every character that could break a log line or a terminal written
/// as an escape: `\n`, `\r` and `\t` as themselves, other control characters (C0, DEL, C1,
/// so also the ESC of terminal sequences), the Unicode line and paragraph separators and the
/// bidirectional overrides as `\u{..}`. Everything else, backslashes included, is shown as
/// it is, so escaping an escaped text again changes nothing.
///
/// ```
/// use airssys_osl::Escaped;
/// let forged = "hello\n2026-01-01 WARN audit: deny";
/// assert_eq!(Escaped(forged).to_string(), "hello\\n2026-01-01 WARN audit: deny");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

/// Whether `c` must be escaped in a log line.
fn breaks_lines(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(breaks_lines) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c => write!(f, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// The escaped form of `text` as an owned string (see [`Escaped`]).
pub fn escaped(text: &str) -> String {
    if text.contains(breaks_lines) { Escaped(text).to_string() } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_terminal_sequences_are_escaped() {
        assert_eq!(escaped("a\r\nb\tc"), "a\\r\\nb\\tc");
        assert_eq!(escaped("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(escaped("x\u{2028}y\u{202e}z\u{85}"), "x\\u{2028}y\\u{202e}z\\u{85}");
        assert_eq!(escaped("plain ünïcode \\n"), "plain ünïcode \\n");
        let once = escaped("a\nb\u{7f}");
        assert_eq!(escaped(&once), once);
    }
}
