//! Numbers as Redis reads and writes them: [`parse_i64`] (Redis's `string2ll`), the decimal
//! rendering of integers, and [`long_double`], the software x87 extended arithmetic that
//! `INCRBYFLOAT` needs to give Redis's digits.

/// Parses a whole byte string as a signed 64-bit decimal integer, as Redis's `string2ll`: an
/// optional `-`, digits, no leading zeros (except "0" itself), no spaces, no `+`.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    if digits[0] == b'0' && (digits.len() > 1 || negative) {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    if negative {
        if magnitude == 1 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(magnitude).ok().map(|m| -m)
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// A decimal rendering of `value`.
pub(crate) fn itoa_bytes(value: i64) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// C `long double` arithmetic as Redis's `INCRBYFLOAT` does it on x86-64, where `long double`
/// is the x87 80-bit extended format: a 64-bit significand (the integer bit stored
/// explicitly), exponents down to 2^-16445 for subnormals, and values up to just below
/// 2^16384.
///
/// Redis parses both operands with `strtold` (correctly rounded, ties to even), adds them (one
/// correctly rounded operation) and prints the sum with `"%.17Lf"` (the exact value rounded to
/// 17 decimals, ties to even), then drops trailing zeros. Doing the same in `f64` gives other
/// digits for most sums (0.1 + 0.2 is `0.3` in Redis and `0.30000000000000004` in `f64`), and
/// keeps fewer digits of large values, so the whole computation is done here in software, on
/// exact big integers, and rounded where the hardware rounds.
pub mod long_double {
    use std::cmp::Ordering;
    use std::fmt::Write as _;

    /// Bits of the significand.
    const SIGNIFICAND_BITS: i64 = 64;
    /// The exponent of the smallest subnormal's unit: every value is a multiple of 2^-16445.
    const QUANTUM_EXPONENT: i64 = -16445;
    /// The exponent of the highest bit of the largest finite value (just below 2^16384).
    const TOP_EXPONENT_MAX: i64 = 16383;
    /// Redis's `string2ld` copies the text into a buffer of `MAX_LONG_DOUBLE_CHARS` (5 KiB)
    /// with its NUL, and refuses longer text.
    const TEXT_BYTES_MAX: usize = 5 * 1024 - 1;
    /// The decimals `"%.17Lf"` prints.
    const FRACTION_DIGITS: usize = 17;
    /// The largest power of ten in a `u64`, the step of the decimal conversions.
    const TEN_POW_19: u64 = 10_000_000_000_000_000_000;

    /// A finite value: (-1)^negative × significand × 2^exponent.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Extended {
        negative: bool,
        significand: u64,
        exponent: i64,
    }

    impl Extended {
        /// Positive zero.
        pub const ZERO: Extended = Extended {
            negative: false,
            significand: 0,
            exponent: 0,
        };
    }

    /// A number `strtold` accepts and Redis keeps.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Parsed {
        /// A finite value.
        Finite(Extended),
        /// `inf` or `-inf` (Redis parses them; any sum with them is refused).
        Infinite,
    }

    /// An unsigned big integer: little-endian 64-bit limbs, without high zero limbs.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Big(Vec<u64>);

    impl Big {
        fn zero() -> Big {
            Big(Vec::new())
        }

        fn from_u64(value: u64) -> Big {
            let mut big = Big(vec![value]);
            big.trim();
            big
        }

        fn trim(&mut self) {
            while self.0.last() == Some(&0) {
                self.0.pop();
            }
        }

        fn is_zero(&self) -> bool {
            self.0.is_empty()
        }

        fn bit_len(&self) -> i64 {
            match self.0.last() {
                None => 0,
                Some(top) => (self.0.len() as i64 - 1) * 64 + 64 - i64::from(top.leading_zeros()),
            }
        }

        fn bit(&self, index: i64) -> bool {
            let limb = (index / 64) as usize;
            limb < self.0.len() && (self.0[limb] >> (index % 64)) & 1 == 1
        }

        /// Whether any bit below `index` is set.
        fn any_below(&self, index: i64) -> bool {
            let limbs = ((index / 64) as usize).min(self.0.len());
            let bits = index % 64;
            self.0[..limbs].iter().any(|&limb| limb != 0)
                || (bits > 0 && limbs < self.0.len() && self.0[limbs] & ((1u64 << bits) - 1) != 0)
        }

        fn shl(&self, bits: i64) -> Big {
            if self.is_zero() {
                return Big::zero();
            }
            let limbs = (bits / 64) as usize;
            let bits = (bits % 64) as u32;
            let mut out = vec![0u64; limbs];
            if bits == 0 {
                out.extend_from_slice(&self.0);
            } else {
                let mut carry = 0u64;
                for &limb in &self.0 {
                    out.push((limb << bits) | carry);
                    carry = limb >> (64 - bits);
                }
                out.push(carry);
            }
            let mut big = Big(out);
            big.trim();
            big
        }

        fn shr(&self, bits: i64) -> Big {
            let limbs = (bits / 64) as usize;
            if limbs >= self.0.len() {
                return Big::zero();
            }
            let bits = (bits % 64) as u32;
            let source = &self.0[limbs..];
            let mut out = Vec::with_capacity(source.len());
            for (index, &limb) in source.iter().enumerate() {
                let high = match source.get(index + 1) {
                    Some(&next) if bits > 0 => next << (64 - bits),
                    _ => 0,
                };
                out.push((limb >> bits) | high);
            }
            let mut big = Big(out);
            big.trim();
            big
        }

        fn mul_small(&mut self, factor: u64) {
            let mut carry = 0u128;
            for limb in &mut self.0 {
                let product = u128::from(*limb) * u128::from(factor) + carry;
                *limb = product as u64;
                carry = product >> 64;
            }
            if carry != 0 {
                self.0.push(carry as u64);
            }
            self.trim();
        }

        fn add_small(&mut self, addend: u64) {
            let mut carry = addend;
            for limb in &mut self.0 {
                if carry == 0 {
                    return;
                }
                let (sum, overflow) = limb.overflowing_add(carry);
                *limb = sum;
                carry = u64::from(overflow);
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }

        /// Divides in place; returns the remainder.
        fn div_small(&mut self, divisor: u64) -> u64 {
            let mut remainder = 0u128;
            for limb in self.0.iter_mut().rev() {
                let current = (remainder << 64) | u128::from(*limb);
                *limb = (current / u128::from(divisor)) as u64;
                remainder = current % u128::from(divisor);
            }
            self.trim();
            remainder as u64
        }

        fn mul_pow10(&mut self, mut exponent: u64) {
            while exponent >= 19 {
                self.mul_small(TEN_POW_19);
                exponent -= 19;
            }
            self.mul_small(10u64.pow(exponent as u32));
        }

        /// Divides in place by 10^exponent, rounding down; returns whether the division was
        /// inexact. Dividing step by step is exact: floor(floor(x / a) / b) = floor(x / ab),
        /// and x is a multiple of ab exactly when every step leaves no remainder.
        fn div_pow10(&mut self, mut exponent: u64) -> bool {
            let mut inexact = false;
            while exponent >= 19 {
                inexact |= self.div_small(TEN_POW_19) != 0;
                exponent -= 19;
            }
            inexact |= self.div_small(10u64.pow(exponent as u32)) != 0;
            inexact
        }

        fn add(&self, other: &Big) -> Big {
            let (long, short) = if self.0.len() >= other.0.len() {
                (self, other)
            } else {
                (other, self)
            };
            let mut out = Vec::with_capacity(long.0.len() + 1);
            let mut carry = false;
            for (index, &limb) in long.0.iter().enumerate() {
                let (sum, first) = limb.overflowing_add(short.0.get(index).copied().unwrap_or(0));
                let (sum, second) = sum.overflowing_add(u64::from(carry));
                out.push(sum);
                carry = first || second;
            }
            if carry {
                out.push(1);
            }
            Big(out)
        }

        /// `self - other`, for `self >= other`.
        fn sub(&self, other: &Big) -> Big {
            let mut out = Vec::with_capacity(self.0.len());
            let mut borrow = false;
            for (index, &limb) in self.0.iter().enumerate() {
                let (difference, first) =
                    limb.overflowing_sub(other.0.get(index).copied().unwrap_or(0));
                let (difference, second) = difference.overflowing_sub(u64::from(borrow));
                out.push(difference);
                borrow = first || second;
            }
            debug_assert!(!borrow, "sub: the subtrahend is larger");
            let mut big = Big(out);
            big.trim();
            big
        }

        fn compare(&self, other: &Big) -> Ordering {
            self.0
                .len()
                .cmp(&other.0.len())
                .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
        }

        fn to_decimal(&self) -> String {
            let mut rest = self.clone();
            let mut chunks = Vec::new();
            while !rest.is_zero() {
                chunks.push(rest.div_small(TEN_POW_19));
            }
            let Some(top) = chunks.pop() else {
                return "0".into();
            };
            let mut text = top.to_string();
            for chunk in chunks.iter().rev() {
                let _ = write!(text, "{chunk:019}");
            }
            text
        }
    }

    /// `n >> shift`, rounded to nearest with ties to even. `sticky` says that the exact value
    /// is a little more than `n` (by less than one unit of `n`'s last bit).
    fn shift_rounded(n: &Big, shift: i64, sticky: bool) -> Big {
        let mut kept = n.shr(shift);
        let half = n.bit(shift - 1);
        let more = sticky || n.any_below(shift - 1);
        if half && (more || kept.bit(0)) {
            kept.add_small(1);
        }
        kept
    }

    /// The extended value nearest to (n + ε) × 2^exponent, where ε is 0, or, with `sticky`, in
    /// (0, 1) (`n` must then have at least 66 bits, so ε only breaks ties). `None` when it
    /// overflows to infinity.
    fn round(negative: bool, n: &Big, exponent: i64, sticky: bool) -> Option<Extended> {
        if n.is_zero() {
            return Some(Extended {
                negative,
                ..Extended::ZERO
            });
        }
        let top = exponent + n.bit_len() - 1;
        // Keep 64 bits, or fewer where the value is subnormal.
        let mut target = (top - (SIGNIFICAND_BITS - 1)).max(QUANTUM_EXPONENT);
        let shift = target - exponent;
        let mut significand = if shift <= 0 {
            debug_assert!(!sticky, "round: a sticky value needs rounding bits");
            n.shl(-shift)
        } else {
            shift_rounded(n, shift, sticky)
        };
        // Rounding up may carry into a 65th bit (the value is then a power of two).
        if significand.bit_len() > SIGNIFICAND_BITS {
            significand = significand.shr(1);
            target += 1;
        }
        if significand.is_zero() {
            return Some(Extended {
                negative,
                ..Extended::ZERO
            });
        }
        if target + significand.bit_len() - 1 > TOP_EXPONENT_MAX {
            return None;
        }
        Some(Extended {
            negative,
            significand: significand.0[0],
            exponent: target,
        })
    }

    /// Parses `bytes` as Redis's `string2ld`: all of it must be a number `strtold` reads, with
    /// no leading space; NaN, values that overflow, and values that underflow to zero are
    /// refused (`strtold` reports the last two as `ERANGE`).
    pub fn parse(bytes: &[u8]) -> Option<Parsed> {
        if bytes.is_empty() || bytes.len() > TEXT_BYTES_MAX {
            return None;
        }
        let (negative, text) = match bytes[0] {
            b'-' => (true, &bytes[1..]),
            b'+' => (false, &bytes[1..]),
            _ => (false, bytes),
        };
        if text.eq_ignore_ascii_case(b"inf") || text.eq_ignore_ascii_case(b"infinity") {
            return Some(Parsed::Infinite);
        }
        // "nan" and "nan(...)" read as NaN, which Redis refuses, as everything else below that
        // is not a decimal or hexadecimal number.
        let finite = match text {
            [b'0', b'x' | b'X', hex @ ..] => parse_hex(negative, hex)?,
            _ => parse_decimal(negative, text)?,
        };
        Some(Parsed::Finite(finite))
    }

    /// An optional sign and decimal digits (an exponent), saturating far beyond any exponent
    /// that leaves a finite, nonzero value; `None` without digits.
    fn parse_exponent(text: &[u8]) -> Option<i64> {
        let (negative, digits) = match text {
            [b'-', rest @ ..] => (true, rest),
            [b'+', rest @ ..] => (false, rest),
            _ => (false, text),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let magnitude = digits.iter().fold(0i64, |value, digit| {
            (value * 10 + i64::from(digit - b'0')).min(1_000_000_000)
        });
        Some(if negative { -magnitude } else { magnitude })
    }

    /// `digits[.digits][e[sign]digits]` (either run of digits may be empty, not both).
    fn parse_decimal(negative: bool, text: &[u8]) -> Option<Extended> {
        let integer_end = text
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(text.len());
        let (integer, rest) = text.split_at(integer_end);
        let (fraction, rest) = match rest {
            [b'.', after @ ..] => {
                let end = after
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .unwrap_or(after.len());
                after.split_at(end)
            }
            _ => (&rest[..0], rest),
        };
        if integer.is_empty() && fraction.is_empty() {
            return None;
        }
        let exponent = match rest {
            [] => 0,
            [b'e' | b'E', exponent @ ..] => parse_exponent(exponent)?,
            _ => return None,
        };
        let digits: Vec<u8> = integer.iter().chain(fraction).copied().collect();
        let significant = match digits.iter().position(|&digit| digit != b'0') {
            Some(first) => &digits[first..],
            None => {
                return Some(Extended {
                    negative,
                    ..Extended::ZERO
                })
            }
        };
        // The value is d × 10^power with d an integer of `significant.len()` digits.
        let power = exponent - fraction.len() as i64;
        let count = significant.len() as i64;
        // At or above 10^4933 it overflows; below 10^-4952 (under half the smallest subnormal)
        // it rounds to zero. Both are refused, and the bounds keep the big integers small.
        if count - 1 + power > 4933 || count + power < -4952 {
            return None;
        }
        let mut n = Big::zero();
        for chunk in significant.chunks(19) {
            let value = chunk
                .iter()
                .fold(0u64, |value, digit| value * 10 + u64::from(digit - b'0'));
            n.mul_small(10u64.pow(chunk.len() as u32));
            n.add_small(value);
        }
        let value = if power >= 0 {
            n.mul_pow10(power as u64);
            round(negative, &n, 0, false)?
        } else {
            // d / 10^m: scale d up so the quotient keeps at least 66 bits (64 and two to round
            // with), divide, and carry the remainder along as a sticky bit.
            let m = power.unsigned_abs();
            let divisor_bits = (m as f64 * std::f64::consts::LOG2_10).ceil() as i64 + 1;
            let scale = (67 + divisor_bits - n.bit_len()).max(0);
            let mut scaled = n.shl(scale);
            let inexact = scaled.div_pow10(m);
            round(negative, &scaled, -scale, inexact)?
        };
        // A nonzero number that rounds to zero underflowed.
        (value.significand != 0).then_some(value)
    }

    /// The part after `0x`: `hexdigits[.hexdigits][p[sign]digits]`.
    fn parse_hex(negative: bool, text: &[u8]) -> Option<Extended> {
        let mut n = Big::zero();
        let mut exponent = 0i64;
        let mut digits = 0;
        let mut index = 0;
        let mut seen_point = false;
        while index < text.len() {
            let byte = text[index];
            if byte == b'.' && !seen_point {
                seen_point = true;
            } else if let Some(digit) = (byte as char).to_digit(16) {
                n.mul_small(16);
                n.add_small(u64::from(digit));
                digits += 1;
                if seen_point {
                    exponent -= 4;
                }
            } else {
                break;
            }
            index += 1;
        }
        if digits == 0 {
            return None;
        }
        match &text[index..] {
            [] => {}
            [b'p' | b'P', binary @ ..] => exponent += parse_exponent(binary)?,
            _ => return None,
        }
        if n.is_zero() {
            return Some(Extended {
                negative,
                ..Extended::ZERO
            });
        }
        // Far outside the range it overflows or rounds to zero (both refused); the bounds
        // keep `round` from shifting by huge amounts.
        let top = exponent + n.bit_len() - 1;
        if !(QUANTUM_EXPONENT - 2..=TOP_EXPONENT_MAX + 1).contains(&top) {
            return None;
        }
        let value = round(negative, &n, exponent, false)?;
        (value.significand != 0).then_some(value)
    }

    /// `a + b`, rounded; `None` when it overflows.
    pub fn add(a: &Extended, b: &Extended) -> Option<Extended> {
        if a.significand == 0 && b.significand == 0 {
            // -0 + -0 is -0; any other sum of zeros is +0.
            return Some(Extended {
                negative: a.negative && b.negative,
                ..Extended::ZERO
            });
        }
        if a.significand == 0 {
            return Some(*b);
        }
        if b.significand == 0 {
            return Some(*a);
        }
        let low = a.exponent.min(b.exponent);
        let x = Big::from_u64(a.significand).shl(a.exponent - low);
        let y = Big::from_u64(b.significand).shl(b.exponent - low);
        let (negative, sum) = if a.negative == b.negative {
            (a.negative, x.add(&y))
        } else {
            match x.compare(&y) {
                Ordering::Greater => (a.negative, x.sub(&y)),
                Ordering::Less => (b.negative, y.sub(&x)),
                // An exact cancellation is +0 when rounding to nearest.
                Ordering::Equal => return Some(Extended::ZERO),
            }
        };
        round(negative, &sum, low, false)
    }

    /// The value as Redis's `ld2string` in `LD_STR_HUMAN` mode prints it: `"%.17Lf"`, then
    /// trailing zeros (and a trailing point) removed, and `-0` printed as `0`.
    pub fn format(value: &Extended) -> String {
        let mut scaled = Big::from_u64(value.significand);
        scaled.mul_pow10(FRACTION_DIGITS as u64);
        let units = if value.exponent >= 0 {
            scaled.shl(value.exponent)
        } else {
            shift_rounded(&scaled, -value.exponent, false)
        };
        let digits = format!(
            "{:0>width$}",
            units.to_decimal(),
            width = FRACTION_DIGITS + 1
        );
        let (whole, fraction) = digits.split_at(digits.len() - FRACTION_DIGITS);
        let mut text = String::with_capacity(digits.len() + 2);
        if value.negative {
            text.push('-');
        }
        text.push_str(whole);
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
        if text.ends_with('.') {
            text.pop();
        }
        if text == "-0" {
            text = "0".into();
        }
        text
    }
}

#[cfg(test)]
mod long_double_tests {
    use super::long_double::{add, format, parse, Parsed};

    /// `INCRBYFLOAT` of `increment` onto `stored`, as text; `None` where Redis errs.
    fn incr(stored: &str, increment: &str) -> Option<String> {
        let (Parsed::Finite(a), Parsed::Finite(b)) =
            (parse(stored.as_bytes())?, parse(increment.as_bytes())?)
        else {
            return None;
        };
        add(&a, &b).map(|sum| format(&sum))
    }

    // Every expected value below is what redis-server 7.0.15 on x86-64 answers.
    #[test]
    fn sums_round_like_long_double() {
        assert_eq!(incr("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(incr("10.50", "0.1").as_deref(), Some("10.6"));
        assert_eq!(incr("1", "0x1p-3").as_deref(), Some("1.125"));
        assert_eq!(
            incr("1.125", "1.5e-17").as_deref(),
            Some("1.12500000000000001")
        );
        assert_eq!(incr("-0", "-0").as_deref(), Some("0"));
        assert_eq!(incr("5", "-5.0000000000000000001").as_deref(), Some("0"));
        // 2^64 + 1 needs 65 bits: the tie goes to the even neighbour, 2^64.
        assert_eq!(
            incr("18446744073709551617", "0").as_deref(),
            Some("18446744073709551616")
        );
        // 2^65 - 1 rounds up, carrying into a 65th bit.
        assert_eq!(
            incr("36893488147419103231", "0").as_deref(),
            Some("36893488147419103232")
        );
        // 2^-18 has 18 decimals ending in 5: "%.17Lf" breaks the tie to even.
        assert_eq!(
            incr("0.000003814697265625", "0").as_deref(),
            Some("0.00000381469726562")
        );
        let big = incr("1e308", "1e308").expect("finite in long double");
        assert_eq!(big.len(), 309);
        assert!(big.starts_with("1999999999999999999933717593"), "{big}");
    }

    #[test]
    fn parsing_follows_strtold_and_string2ld() {
        for accepted in ["+.5", "5.", "0x.8", "0X1.8P1", "1e-4940", "-1E2", "0"] {
            assert!(
                matches!(parse(accepted.as_bytes()), Some(Parsed::Finite(_))),
                "{accepted}"
            );
        }
        for infinite in ["inf", "-INF", "Infinity"] {
            assert_eq!(
                parse(infinite.as_bytes()),
                Some(Parsed::Infinite),
                "{infinite}"
            );
        }
        for refused in [
            "",
            " 1",
            "1 ",
            "1e",
            ".",
            "0x",
            "0x1p",
            "nan",
            "nan(1)",
            "abc",
            "1e-5000",
            "1e4933",
            "1.18973149535723176508e4932",
        ] {
            assert_eq!(parse(refused.as_bytes()), None, "{refused:?}");
        }
        assert_eq!(
            parse("1".repeat(5120).as_bytes()),
            None,
            "longer than Redis's buffer"
        );
        assert_eq!(incr("1e4932", "1e4932"), None, "overflows to infinity");
    }
}
