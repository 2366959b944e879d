//! memcached's number rules, so bad numbers get memcached's errors and odd ones its results.
//!
//! memcached reads every number of a command line with C's `strtol` or `strtoull` and then
//! checks what they left: `safe_strtol`, `safe_strtoul` and `safe_strtoull` in its `util.c`.
//! What clients see of that, checked byte for byte against memcached 1.6.18 in
//! `tests/memcache_differential.rs`:
//!
//! * leading whitespace and one sign are accepted (`+5`, ` 5`; a token holds no space, but it
//!   may hold a tab), and the number ends at the first byte that is not a digit, which must be
//!   whitespace or the end of the token (`5\t` is 5, `5x` is an error);
//! * a magnitude past the 64-bit range (`ERANGE`) is an error;
//! * unsigned numbers: `strtoull` negates a negative number modulo 2^64, and memcached refuses
//!   the result only when it looks negative as a signed number and a `-` was seen (`-1` is an
//!   error, `-0` is 0);
//! * memcached stores `strtoul`'s and `strtol`'s 64-bit results into 32-bit variables, so
//!   client flags, exptimes and data lengths wrap modulo 2^32: flags `4294967297` are 1, an
//!   exptime of `4294967295` is -1 (already expired), a length of `4294967297` is 1.

/// What `strtol`/`strtoull` read from the start of a token.
struct Scanned {
    /// A `-` sign was read.
    negative: bool,
    /// The digits' value, `None` past `u64::MAX` (`ERANGE`).
    magnitude: Option<u64>,
}

/// C's `isspace` in the C locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Reads whitespace, a sign and decimal digits as `strtol` and `strtoull` do, and checks what
/// memcached checks of the rest: at least one digit, then the end of the token (a NUL ends a
/// C string) or whitespace. `None` when that fails.
fn scan(token: &[u8]) -> Option<Scanned> {
    let mut position = token.iter().take_while(|&&b| is_c_space(b)).count();
    let mut negative = false;
    if let Some(&sign @ (b'+' | b'-')) = token.get(position) {
        negative = sign == b'-';
        position += 1;
    }
    let digits = token[position..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    let magnitude = token[position..position + digits]
        .iter()
        .try_fold(0u64, |value, digit| {
            value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
        });
    match token.get(position + digits) {
        None | Some(0) => {}
        Some(&byte) if is_c_space(byte) => {}
        Some(_) => return None,
    }
    Some(Scanned {
        negative,
        magnitude,
    })
}

/// memcached's `safe_strtoull`: CAS uniques, `incr`/`decr` deltas.
pub fn strtoull(token: &[u8]) -> Option<u64> {
    let scanned = scan(token)?;
    let magnitude = scanned.magnitude?;
    let value = if scanned.negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    };
    // strtoull negates a negative number modulo 2^64; memcached refuses it when it looks
    // negative as a signed number and a minus sign was read.
    if (value as i64) < 0 && scanned.negative {
        return None;
    }
    Some(value)
}

/// memcached's `safe_strtoul` into a 32-bit variable: client flags. The 64-bit result is
/// truncated, as memcached's assignment truncates it.
pub fn strtoul_32(token: &[u8]) -> Option<u32> {
    strtoull(token).map(|value| value as u32)
}

/// memcached's `safe_strtol` into a 32-bit variable: exptimes, data lengths, `flush_all`'s
/// delay. `strtol` fails past the signed 64-bit range; the result is truncated to 32 bits.
pub fn strtol_32(token: &[u8]) -> Option<i32> {
    let scanned = scan(token)?;
    let magnitude = scanned.magnitude?;
    let value = if scanned.negative {
        // -(2^63) is the one negative value whose magnitude is not an i64.
        if magnitude > 1 << 63 {
            return None;
        }
        (magnitude as i64).wrapping_neg()
    } else {
        i64::try_from(magnitude).ok()?
    };
    Some(value as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_as_memcached() {
        assert_eq!(strtoull(b"5"), Some(5));
        assert_eq!(strtoull(b"+5"), Some(5));
        assert_eq!(strtoull(b"\t5"), Some(5));
        assert_eq!(strtoull(b"5\t"), Some(5));
        assert_eq!(strtoull(b"5\0junk"), Some(5));
        assert_eq!(strtoull(b"-0"), Some(0));
        assert_eq!(strtoull(b"-1"), None);
        assert_eq!(strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(strtoull(b"18446744073709551616"), None);
        // The negation of a magnitude above 2^63 looks positive, so memcached takes it.
        assert_eq!(strtoull(b"-9223372036854775809"), Some(9223372036854775807));
        assert_eq!(strtoull(b""), None);
        assert_eq!(strtoull(b"+"), None);
        assert_eq!(strtoull(b"5x"), None);
        assert_eq!(strtoull(b"0x1"), None);
        assert_eq!(strtoul_32(b"4294967297"), Some(1));
        assert_eq!(strtoul_32(b"18446744073709551615"), Some(u32::MAX));
    }

    #[test]
    fn signed_as_memcached() {
        assert_eq!(strtol_32(b"-1"), Some(-1));
        assert_eq!(strtol_32(b"+5"), Some(5));
        assert_eq!(strtol_32(b"2147483648"), Some(i32::MIN));
        assert_eq!(strtol_32(b"4294967295"), Some(-1));
        assert_eq!(strtol_32(b"4294967296"), Some(0));
        assert_eq!(strtol_32(b"-2147483649"), Some(i32::MAX));
        assert_eq!(strtol_32(b"9223372036854775807"), Some(-1));
        assert_eq!(strtol_32(b"9223372036854775808"), None);
        assert_eq!(strtol_32(b"-9223372036854775808"), Some(0));
        assert_eq!(strtol_32(b"-9223372036854775809"), None);
        assert_eq!(strtol_32(b"9999999999999999999999"), None);
        assert_eq!(strtol_32(b"1x"), None);
    }
}
