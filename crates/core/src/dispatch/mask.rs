//! Personal data masking (个人信息脱敏): phone numbers and names in text
//! that leaves the hub or is stored, as the hotline's details and duty
//! officers' notes may carry them.

/// Masks a caller's name: keeps the first character (the family name in
/// Chinese), stars the rest: 张三丰 → 张**.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// Masks every run of 7 or more digits (phone numbers, ID numbers) in free
/// text, keeping the first 3 and last 4 of an 11-digit mobile number
/// (138****5678) and the last 4 of anything else.
pub fn mask_text(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '-' || chars[i] == ' ') {
            i += 1;
        }
        // Trailing separators are not part of the number.
        let mut end = i;
        while end > start && !chars[end - 1].is_ascii_digit() {
            end -= 1;
        }
        let digits: Vec<char> = chars[start..end]
            .iter()
            .copied()
            .filter(char::is_ascii_digit)
            .collect();
        if digits.len() >= 7 {
            let keep_head = if digits.len() == 11 { 3 } else { 0 };
            let n = digits.len();
            for (k, d) in digits.iter().enumerate() {
                out.push(if k < keep_head || k >= n - 4 { *d } else { '*' });
            }
        } else {
            out.extend(&chars[start..end]);
        }
        out.extend(&chars[end..i]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_and_names_are_masked() {
        assert_eq!(
            mask_text("来电人手机13812345678，称噪声扰民"),
            "来电人手机138****5678，称噪声扰民"
        );
        assert_eq!(mask_text("tel 021-6222 8888 ok"), "tel 021****8888 ok");
        assert_eq!(mask_text("ID 310107199001011234"), "ID **************1234");
        assert_eq!(mask_text("3楼 12号"), "3楼 12号", "short numbers stay");
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("Li"), "L*");
        assert_eq!(mask_name(""), "");
    }
}
