//! Personal data masking (个人信息脱敏): phone numbers, ID numbers and names
//! in text that leaves the hub or is stored, as the hotline's details and
//! duty officers' notes may carry them, written the way people write in
//! Chinese: full-width digits, +86 prefixes, groups split by spaces or
//! dashes, ID numbers ending in X.
//!
//! Invariant: [`mask_text`] leaves no number of 7 or more digits readable
//! in free text, whatever the digits' width and separators, and it is
//! idempotent: masked text masked again is unchanged. It reads the text
//! once, left to right, and allocates only the returned string.

/// Masks a caller's name: keeps the first character (the family name in
/// Chinese), stars the rest: 张三丰 → 张**.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// Fewest digits of a number that is masked.
const MIN_DIGITS: usize = 7;

/// Masks every number of 7 or more digits in free text.
///
/// A number is a run of digit groups, ASCII (`0`-`9`) or full-width
/// (`０`-`９`), joined by single separators: a space, `-`, `.`, a no-break
/// space, the full-width space U+3000, the full-width `－` and `．`, or a
/// hyphen or dash (U+2010 to U+2015, U+2212, U+FE58, U+FE63). Two
/// separators in a row, or any other character, end it.
///
/// - A country prefix is kept as written, with the one separator after it,
///   and does not count: `0086` at the start of the number, or `86` right
///   after `+` or `＋` (`(86)` needs no rule: the bracket ends it).
/// - An ID number (身份证号: 18 digits, or 17 and a final `X`, `x`, `Ｘ`
///   or `ｘ`) keeps its first 6 and last 4: `110105********123X`.
/// - A number of 11 digits or more (a mobile, a landline with its area
///   code, the 12-digit code of a street) keeps its first 3 and last 4:
///   `138****5678`, `021****5678`, `310*****5000`.
/// - A number of 7 to 10 digits keeps only its last 4 (`****5678`), so
///   that at least 3 digits are always starred.
///
/// The masked number is written in ASCII digits without its separators
/// (`１３８ 1234 ５６７８` → `138****5678`, a final `x` as `X`); the text
/// around it is unchanged.
///
/// Shorter numbers (a house number, a year, a time like 14:30) are not
/// masked, and neither is a date written year first (`2026-04-15`,
/// `2026.4.5`: a year 1900-2099, a month, a day, joined by the same `-`
/// or `.`), though its 8 digits would otherwise make a number.
pub fn mask_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(c) = char_at(text, i) {
        if digit_value(c).is_none() {
            i += c.len_utf8();
            continue;
        }
        if let Some(end) = date_end(text, i) {
            i = end;
            continue;
        }
        let number = Number::scan(text, i);
        if number.national >= MIN_DIGITS {
            out.push_str(&text[copied..i]);
            number.write_masked(text, &mut out);
            copied = number.end;
        }
        debug_assert!(number.end > i, "a number holds at least one digit");
        i = number.end;
    }
    out.push_str(&text[copied..]);
    out
}

/// One number found in the text, by byte offsets into it.
struct Number {
    /// Where its first digit starts.
    start: usize,
    /// Just past its last digit, or past an ID number's final X.
    end: usize,
    /// Digits of the country prefix it starts with (0, 2 or 4), kept.
    prefix: usize,
    /// Digits after the prefix.
    national: usize,
    /// Whether it is an ID number ending in X.
    check_x: bool,
}

impl Number {
    /// Reads the number whose first digit is at `start`.
    fn scan(text: &str, start: usize) -> Number {
        let mut lead = [0u8; 4];
        let mut digits = 0;
        let mut i = start;
        let mut end;
        loop {
            while let Some((d, width)) = digit_at(text, i) {
                if let Some(slot) = lead.get_mut(digits) {
                    *slot = d;
                }
                digits += 1;
                i += width;
            }
            end = i;
            match char_at(text, i) {
                Some(s) if is_separator(s) && starts_with_digit(text, i + s.len_utf8()) => {
                    i += s.len_utf8();
                }
                _ => break,
            }
        }
        let after_plus = matches!(text[..start].chars().next_back(), Some('+' | '＋'));
        let prefix = if digits >= 4 && lead == [0, 0, 8, 6] {
            4
        } else if after_plus && digits >= 2 && lead[..2] == [8, 6] {
            2
        } else {
            0
        };
        let national = digits - prefix;
        let check_x = national == 17 && char_at(text, end).is_some_and(is_check_x);
        if check_x {
            end += char_at(text, end).map_or(0, char::len_utf8);
        }
        Number {
            start,
            end,
            prefix,
            national,
            check_x,
        }
    }

    /// How many of the national digits (and the final X) stay visible at
    /// the front and at the back.
    fn visible(&self) -> (usize, usize) {
        let symbols = self.national + usize::from(self.check_x);
        if symbols == 18 {
            (6, 4)
        } else if symbols >= 11 {
            (3, 4)
        } else {
            (0, 4)
        }
    }

    /// Writes the prefix as it was, then the national number masked.
    fn write_masked(&self, text: &str, out: &mut String) {
        let (head, tail) = self.visible();
        let symbols = self.national + usize::from(self.check_x);
        debug_assert!(symbols >= head + tail + 3, "at least 3 starred");
        let mut k = 0;
        for c in text[self.start..self.end].chars() {
            if let Some(d) = digit_value(c) {
                if k < self.prefix {
                    out.push(c);
                } else {
                    let j = k - self.prefix;
                    let shown = j < head || j >= symbols - tail;
                    out.push(if shown { char::from(b'0' + d) } else { '*' });
                }
                k += 1;
            } else if is_check_x(c) {
                out.push('X');
            } else if k == self.prefix && self.prefix > 0 {
                // The one separator between the prefix and the number.
                out.push(c);
            }
        }
    }
}

/// The end of a date written year first (2026-04-15, 2026.4.5) that
/// starts at `start`, if one does.
fn date_end(text: &str, start: usize) -> Option<usize> {
    let (year, i) = digits_at(text, start, 4..=4)?;
    let sep = char_at(text, i).filter(|&s| is_separator(s) && !s.is_whitespace())?;
    let (month, i) = digits_at(text, i + sep.len_utf8(), 1..=2)?;
    if char_at(text, i) != Some(sep) {
        return None;
    }
    let (day, end) = digits_at(text, i + sep.len_utf8(), 1..=2)?;
    let continues =
        char_at(text, end) == Some(sep) && starts_with_digit(text, end + sep.len_utf8());
    let valid =
        (1900..=2099).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day);
    (valid && !continues).then_some(end)
}

/// The value of the run of digits at `i` and its end, if it is `len` long.
fn digits_at(
    text: &str,
    mut i: usize,
    len: std::ops::RangeInclusive<usize>,
) -> Option<(u32, usize)> {
    let mut value = 0;
    let mut count = 0;
    while let Some((d, width)) = digit_at(text, i) {
        if count == *len.end() {
            return None;
        }
        value = value * 10 + u32::from(d);
        count += 1;
        i += width;
    }
    len.contains(&count).then_some((value, i))
}

/// The character at byte offset `i`, if any.
fn char_at(text: &str, i: usize) -> Option<char> {
    text.get(i..)?.chars().next()
}

/// The value of the digit at byte offset `i` and its length in bytes.
fn digit_at(text: &str, i: usize) -> Option<(u8, usize)> {
    let c = char_at(text, i)?;
    Some((digit_value(c)?, c.len_utf8()))
}

fn starts_with_digit(text: &str, i: usize) -> bool {
    digit_at(text, i).is_some()
}

/// The value of an ASCII or a full-width digit.
fn digit_value(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '０'..='９' => Some((c as u32 - '０' as u32) as u8),
        _ => None,
    }
}

/// A character that may stand between two groups of digits of one number.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '-' | '.' | '\u{00A0}' | '\u{2010}'
            ..='\u{2015}'
                | '\u{2212}'
                | '\u{3000}'
                | '\u{FE58}'
                | '\u{FE63}'
                | '\u{FF0D}'
                | '\u{FF0E}'
    )
}

/// The final character of an ID number whose check digit is 10.
fn is_check_x(c: char) -> bool {
    matches!(c, 'X' | 'x' | 'Ｘ' | 'ｘ')
}

#[cfg(test)]
mod tests;
