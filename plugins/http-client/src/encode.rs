//! Percent-encoding as SigV4, S3 and Azure's URIs want it: every byte except the
//! unreserved `A-Za-z0-9-._~` becomes `%XX` (uppercase hex). Object keys keep
//! their `/` in the path; query names and values encode it too.

/// `s` encoded for a URI path: `/` kept, everything else per [`component`].
pub fn path(s: &str) -> String {
    encode(s, true)
}

/// `s` encoded as one query-string name or value (`/` becomes `%2F`).
pub fn component(s: &str) -> String {
    encode(s, false)
}

fn encode(s: &str, keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() + s.len() / 2);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// Decodes `%XX` escapes (and `+` as a space, as S3's `encoding-type=url`
/// listings write it); `None` if an escape is malformed or the result is not
/// UTF-8.
pub fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unreserved_and_slash_in_paths() {
        assert_eq!(path("a/b-c_d.e~f"), "a/b-c_d.e~f");
        assert_eq!(path("test$file.text"), "test%24file.text");
        assert_eq!(path("with space/ü"), "with%20space/%C3%BC");
        assert_eq!(path("a+b=c&d"), "a%2Bb%3Dc%26d");
        assert_eq!(path("//x/./.."), "//x/./..");
    }

    #[test]
    fn encodes_slash_in_components() {
        assert_eq!(component("a/b"), "a%2Fb");
        assert_eq!(component("1/2 3*"), "1%2F2%203%2A");
        assert_eq!(component(""), "");
    }

    #[test]
    fn decodes_what_it_encodes() {
        for s in ["a b/ü&%+", "", "x%2Fy", "日本/語"] {
            assert_eq!(decode(&component(s)).as_deref(), Some(s));
            assert_eq!(decode(&path(s)).as_deref(), Some(s));
        }
        assert_eq!(decode("a+b").as_deref(), Some("a b"));
        assert_eq!(decode("%4"), None);
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%ff"), None);
    }
}
