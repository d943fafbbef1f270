//! Lines for the operator's log that carry what a service said.

/// Longest diagnostic line passed on; a server's message can be long.
const MAX_DIAGNOSTIC: usize = 512;

/// `text` as one log line of bounded length: control characters become
/// spaces, so a server's message cannot forge log lines.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_DIAGNOSTIC)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_bounded_line() {
        assert_eq!(super::one_line("a\nb\r\tc"), "a b  c");
        assert_eq!(super::one_line(&"x".repeat(2000)).len(), 512);
    }
}
