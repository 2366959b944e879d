//! Redis's glob patterns (`KEYS`, `SCAN MATCH`): `*`, `?`, `[abc]`, `[^a-z]` and `\` escapes.
//!
//! Every token other than `*` matches exactly one byte, so the classic "remember the last star
//! and retry one byte further" walk is exact and runs in O(pattern x text) without recursion
//! (Redis's recursive matcher needed a nesting limit for patterns like `a*a*a*...`).

/// One pattern token that matches exactly one byte, and the pattern bytes it spans.
fn match_one(pattern: &[u8], byte: u8, nocase: bool) -> Option<(bool, usize)> {
    let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    match pattern.first()? {
        b'?' => Some((true, 1)),
        b'\\' if pattern.len() >= 2 => Some((fold(pattern[1]) == fold(byte), 2)),
        b'[' => {
            let mut index = 1;
            let negate = pattern.get(index) == Some(&b'^');
            if negate {
                index += 1;
            }
            let mut matched = false;
            loop {
                match pattern.get(index) {
                    // An unterminated class ends with the pattern, as in Redis.
                    None => break,
                    Some(b']') => {
                        index += 1;
                        break;
                    }
                    Some(b'\\') if index + 1 < pattern.len() => {
                        matched |= fold(pattern[index + 1]) == fold(byte);
                        index += 2;
                    }
                    Some(&low)
                        if pattern.get(index + 1) == Some(&b'-') && index + 2 < pattern.len() =>
                    {
                        let high = pattern[index + 2];
                        let (low, high) = if low <= high {
                            (low, high)
                        } else {
                            (high, low)
                        };
                        let (low, high, byte) = (fold(low), fold(high), fold(byte));
                        matched |= (low..=high).contains(&byte);
                        index += 3;
                    }
                    Some(&literal) => {
                        matched |= fold(literal) == fold(byte);
                        index += 1;
                    }
                }
            }
            Some((matched != negate, index))
        }
        &literal => Some((fold(literal) == fold(byte), 1)),
    }
}

/// Whether `text` matches the glob `pattern`.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: the pattern after it, and the text position it has
    // absorbed up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if pattern.get(p) == Some(&b'*') {
            while pattern.get(p) == Some(&b'*') {
                p += 1;
            }
            star = Some((p, t));
            continue;
        }
        if let Some((true, width)) = match_one(&pattern[p.min(pattern.len())..], text[t], nocase) {
            p += width;
            t += 1;
            continue;
        }
        match star {
            Some((after_star, absorbed)) => {
                p = after_star;
                t = absorbed + 1;
                star = Some((after_star, absorbed + 1));
            }
            None => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_match_as_redis_does() {
        let yes =
            |p: &str, t: &str| assert!(glob_match(p.as_bytes(), t.as_bytes(), false), "{p} {t}");
        let no =
            |p: &str, t: &str| assert!(!glob_match(p.as_bytes(), t.as_bytes(), false), "{p} {t}");
        yes("*", "");
        yes("*", "anything");
        yes("h?llo", "hello");
        no("h?llo", "hllo");
        yes("h*llo", "hllo");
        yes("h*llo", "heeeello");
        yes("h[ae]llo", "hallo");
        no("h[ae]llo", "hillo");
        yes("h[^e]llo", "hallo");
        no("h[^e]llo", "hello");
        yes("h[a-b]llo", "hbllo");
        yes("h[b-a]llo", "hallo");
        yes("h\\*llo", "h*llo");
        no("h\\*llo", "hello");
        yes("key:*:end", "key:a:b:end");
        no("key:*:end", "key:a:b:en");
        yes("a*a*a*a*b", "aaaaaaaaaaaaaaaaab");
        no("a*a*a*a*b", "aaaaaaaaaaaaaaaaaa");
        yes("[abc", "a");
        no("abc", "abcd");
        no("", "a");
        yes("", "");
        assert!(glob_match(b"HELLO", b"hello", true));
    }
}
