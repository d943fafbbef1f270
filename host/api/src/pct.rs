//! Percent-encoding of URL path segments and form values.

/// Decodes `%XX` escapes (and `+` as a space when `plus_as_space`, as in
/// form bodies and query strings). Malformed escapes are kept literally, as
/// browsers and most servers do.
pub(crate) fn decode(input: &[u8], plus_as_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' => {
                let hi = input.get(i + 1).copied().and_then(hex_value);
                let lo = input.get(i + 2).copied().and_then(hex_value);
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_as_space => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    out
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Encodes a path segment: everything but RFC 3986 unreserved characters.
pub(crate) fn encode_segment(segment: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(segment.len());
    for &byte in segment.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(decode(b"a%2Fb+c", true), b"a/b c");
        assert_eq!(decode(b"a%2fb+c", false), b"a/b+c");
        assert_eq!(decode(b"%00", false), b"\0");
    }

    #[test]
    fn keeps_malformed_escapes() {
        assert_eq!(decode(b"100%", true), b"100%");
        assert_eq!(decode(b"%zz%4", true), b"%zz%4");
    }

    #[test]
    fn encodes_segments() {
        assert_eq!(encode_segment("a b/c~d"), "a%20b%2Fc~d");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }
}
