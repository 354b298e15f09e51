//! Tests of the masking: the ways people write numbers in Chinese text, and
//! properties over random text with a number put anywhere in it.

use super::*;
use proptest::prelude::*;

/// Masks, and checks that masking the result again changes nothing.
fn mask(text: &str) -> String {
    let once = mask_text(text);
    assert_eq!(mask_text(&once), once, "idempotent on {text:?}");
    once
}

#[test]
fn names_keep_the_family_name() {
    assert_eq!(mask_name("张三丰"), "张**");
    assert_eq!(mask_name(" 王小明 "), "王**");
    assert_eq!(mask_name("Li"), "L*");
    assert_eq!(mask_name(""), "");
}

#[test]
fn mobile_numbers_in_every_width_and_grouping() {
    let masked = "来电人手机138****5678，称噪声扰民";
    for phone in [
        "13812345678",
        "１３８１２３４５６７８",
        "138-1234-5678",
        "138 1234 5678",
        "138.1234.5678",
        "138\u{3000}1234\u{3000}5678",
        "138－1234－5678",
        "138—1234–5678",
        "１３８ 1234 ５６７８",
        "138 1234-5678",
    ] {
        assert_eq!(
            mask(&format!("来电人手机{phone}，称噪声扰民")),
            masked,
            "{phone}"
        );
    }
    assert_eq!(mask("电话：１３８ 1234 ５６７８"), "电话：138****5678");
}

#[test]
fn country_prefixes_are_kept_and_do_not_count() {
    assert_eq!(mask("+86 138 1234 5678"), "+86 138****5678");
    assert_eq!(mask("+8613812345678"), "+86138****5678");
    assert_eq!(
        mask("＋８６－１３８１２３４５６７８"),
        "＋８６－138****5678"
    );
    assert_eq!(mask("0086-13812345678"), "0086-138****5678");
    assert_eq!(mask("008613812345678"), "0086138****5678");
    assert_eq!(mask("(86)13812345678"), "(86)138****5678");
    assert_eq!(mask("（86） 138 1234 5678"), "（86） 138****5678");
    assert_eq!(
        mask("+86 12345"),
        "+86 12345",
        "the number after it is short"
    );
}

#[test]
fn landlines_and_other_long_numbers() {
    assert_eq!(mask("tel 021-6222 8888 ok"), "tel 021****8888 ok");
    assert_eq!(mask("021-6234 5678"), "021****5678");
    assert_eq!(mask("0571-8888 7777"), "057*****7777");
    assert_eq!(
        mask("拨打 62345678"),
        "拨打 ****5678",
        "8 digits keep the last 4"
    );
    assert_eq!(mask("6234567"), "***4567", "7 digits: 3 starred at least");
    assert_eq!(mask("0571 88887777"), "057*****7777");
    assert_eq!(
        mask("街道 310107005000 已处理"),
        "街道 310*****5000 已处理",
        "a street code is 12 digits: masked like any long number, for safety"
    );
}

#[test]
fn id_numbers_keep_the_first_6_and_last_4() {
    assert_eq!(mask("ID 310107199001011234"), "ID 310107********1234");
    assert_eq!(
        mask("身份证11010519900101123X。"),
        "身份证110105********123X。"
    );
    assert_eq!(mask("11010519900101123x"), "110105********123X");
    assert_eq!(
        mask("１１０１０５１９９００１０１１２３Ｘ"),
        "110105********123X"
    );
    assert_eq!(mask("110105 19900101 123X"), "110105********123X");
    assert_eq!(
        mask("11010519900101123 X"),
        "110**********1123 X",
        "an X after a separator is no check digit: 17 digits, masked all the same"
    );
}

#[test]
fn short_numbers_dates_and_times_stay() {
    for text in [
        "3楼 12号",
        "幸福路 1234 号",
        "2026年4月15日 14:30",
        "2026-04-15 14:30 现场已处理",
        "2026.4.5 复查",
        "２０２６－０４－１５",
        "房间 123  4567",
        "共 3 台, 编号 12-34",
        "+86 123",
        "138****5678",
        "110105********123X",
    ] {
        assert_eq!(mask_text(text), text);
    }
    assert_eq!(
        mask("2026-13-45"),
        "****1345",
        "not a date: 8 digits masked"
    );
    assert_eq!(
        mask("2026-04-15-1234"),
        "202*****1234",
        "a date that goes on"
    );
}

#[test]
fn separators_end_a_number_when_no_digit_follows_or_doubled() {
    assert_eq!(mask("13812345678- 好"), "138****5678- 好");
    assert_eq!(mask("13812345678.5"), "138*****6785", "a decimal joins");
    assert_eq!(mask("138  12345678"), "138  ****5678", "two spaces split");
    assert_eq!(mask("13812345678, 13987654321"), "138****5678, 139****4321");
    assert_eq!(mask("13812345678X"), "138****5678X");
    assert_eq!(mask(""), "");
}

// Properties.

/// Characters for the text around a number: Chinese, ASCII letters and
/// punctuation, separators, the characters the masking looks at (`+`,
/// brackets, X, stars), but no digit.
fn filler_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => (0x4E00u32..=0x9FA5).prop_map(|c| char::from_u32(c).unwrap()),
        2 => prop::char::range('a', 'z'),
        2 => prop::char::range('A', 'Z'),
        3 => prop::sample::select(vec![
            '，', '。', '：', '、', '（', '）', '(', ')', '+', '＋', '-', ' ', '.', '\u{3000}',
            '－', '—', '*', 'Ｘ', 'ｘ', '\n', '/', ':', '#', '号',
        ]),
    ]
}

fn filler(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(filler_char(), 0..max).prop_map(|v| v.into_iter().collect())
}

fn separator() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        ' ', '-', '.', '\u{3000}', '\u{FF0D}', '\u{2010}', '\u{2013}', '\u{2014}', '\u{2212}',
        '\u{00A0}', '\u{FF0E}',
    ])
}

/// A number as the masking should see it.
#[derive(Debug, Clone)]
struct Sample {
    /// The number as written, prefix and all.
    text: String,
    /// Its masked form.
    masked: String,
    /// The digits that stay readable, in ASCII, prefix included.
    visible_digits: String,
    /// The starred digits, in ASCII.
    middle: String,
}

/// Writes ASCII digits each in ASCII or full width.
fn widen(digits: &str, wide: &[bool]) -> String {
    digits
        .chars()
        .zip(wide.iter().cycle())
        .map(|(c, &w)| match (c.to_digit(10), w) {
            (Some(d), true) => char::from_u32('０' as u32 + d).unwrap(),
            _ => c,
        })
        .collect()
}

/// Splits `digits` at `cuts`, joining the groups with the separators
/// given (none where `None`).
fn group(digits: &str, cuts: &[usize], seps: &[Option<char>]) -> String {
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if let Some(n) = cuts.iter().position(|&cut| cut == k) {
            out.extend(seps.get(n).copied().flatten());
        }
        out.push(c);
    }
    out
}

/// A mobile, a landline with its area code, or an ID number, as the
/// digits themselves (ASCII, an ID's check character last) and the
/// places where people split them.
fn national() -> impl Strategy<Value = (String, Vec<usize>, bool)> {
    let mobile = (
        "1[3-9][0-9]{9}",
        prop::sample::select(vec![vec![], vec![3, 7], vec![3]]),
    )
        .prop_map(|(d, cuts)| (d, cuts, false));
    let landline = (
        prop::sample::select(vec!["010", "021", "020", "0571", "0755", "0512", "0991"]),
        "[2-8][0-9]{6,7}",
    )
        .prop_map(|(area, local)| {
            let cuts = vec![area.len(), area.len() + 4];
            (format!("{area}{local}"), cuts, false)
        });
    let id = (
        "[1-6][0-9]{5}(19[0-9]{2}|20[0-2][0-9])(0[1-9]|1[0-2])(0[1-9]|[12][0-9])[0-9]{3}",
        prop::sample::select(vec!["0", "7", "X", "x", "Ｘ", "ｘ"]),
        prop::sample::select(vec![vec![], vec![6, 14], vec![6]]),
    )
        .prop_map(|(d, check, cuts)| (format!("{d}{check}"), cuts, true));
    prop_oneof![mobile, landline, id]
}

fn sample() -> impl Strategy<Value = Sample> {
    (
        national(),
        prop::sample::select(vec![
            "",
            "",
            "+86",
            "＋86",
            "+８６",
            "0086",
            "００８６",
            "(86)",
            "（86）",
        ]),
        prop::option::of(separator()),
        prop::collection::vec(prop::option::of(separator()), 2),
        prop::collection::vec(any::<bool>(), 1..8),
    )
        .prop_map(|((digits, cuts, is_id), prefix, prefix_sep, seps, wide)| {
            let prefix = if is_id { "" } else { prefix };
            let prefix_text = match (prefix, prefix_sep) {
                ("", _) | (_, None) => prefix.to_string(),
                (p, Some(s)) => format!("{p}{s}"),
            };
            let normal: String = digits
                .chars()
                .map(|c| if is_check_x(c) { 'X' } else { c })
                .collect();
            let n = normal.chars().count();
            let (head, tail) = match (is_id, n) {
                (true, _) => (6, 4),
                (false, 11..) => (3, 4),
                (false, _) => (0, 4),
            };
            let masked_number: String = normal
                .chars()
                .enumerate()
                .map(|(k, c)| if k < head || k >= n - tail { c } else { '*' })
                .collect();
            let prefix_digits: String = prefix
                .chars()
                .filter_map(digit_value)
                .map(|d| char::from(b'0' + d))
                .collect();
            let kept = |c: char| c.is_ascii_digit();
            Sample {
                text: format!(
                    "{prefix_text}{}",
                    widen(&group(&digits, &cuts, &seps), &wide)
                ),
                masked: format!("{prefix_text}{masked_number}"),
                visible_digits: format!(
                    "{prefix_digits}{}{}",
                    normal[..head]
                        .chars()
                        .filter(|&c| kept(c))
                        .collect::<String>(),
                    normal[n - tail..]
                        .chars()
                        .filter(|&c| kept(c))
                        .collect::<String>()
                ),
                middle: normal[head..n - tail].to_string(),
            }
        })
}

/// Every digit of the text, in ASCII, in order, whatever its width and
/// whatever stands between.
fn digits_of(text: &str) -> String {
    text.chars()
        .filter_map(digit_value)
        .map(|d| char::from(b'0' + d))
        .collect()
}

/// Text with numbers no longer than 6 digits, however grouped, and dates
/// and times: nothing the masking must touch.
fn text_without_long_numbers() -> impl Strategy<Value = String> {
    let breaker = prop::sample::select(vec!['号', '楼', '，', '：', ':', '/', 'a', '(', ')', '年']);
    let short = (
        prop::collection::vec("[0-9]{1,3}", 1..=2),
        separator(),
        prop::collection::vec(any::<bool>(), 1..4),
        breaker.clone(),
    )
        .prop_map(|(groups, sep, wide, end)| {
            let joined = groups.join(&sep.to_string());
            format!("{}{end}", widen(&joined, &wide))
        });
    let date = (
        1900u32..=2099,
        1u32..=12,
        1u32..=31,
        prop::sample::select(vec!['-', '.', '－']),
        0u32..24,
        0u32..60,
        any::<bool>(),
    )
        .prop_map(|(y, m, d, s, hh, mm, wide)| {
            let text = format!("{y}{s}{m:02}{s}{d} {hh}:{mm:02}，");
            widen(&text, &[wide])
        });
    prop::collection::vec(prop_oneof![short, date, filler(6)], 0..8).prop_map(|v| v.concat())
}

/// Any text at all, rich in what the masking looks at: digits of both
/// widths, separators, prefixes, check characters, dates and stars.
fn any_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => prop::char::range('0', '9').prop_map(String::from),
        2 => prop::char::range('０', '９').prop_map(String::from),
        2 => separator().prop_map(String::from),
        3 => filler_char().prop_map(String::from),
        1 => prop::sample::select(vec![
            "+86", "＋８６", "0086", "００８６", "(86)", "X", "ｘ", "2026-04-15", "1990.1.1",
            "****", "  ",
        ])
        .prop_map(String::from),
        1 => sample().prop_map(|s| s.text),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A number put anywhere in text is masked, in place, and nothing else
    /// changes: none of its middle digits is left in the output in any
    /// form (ASCII or full width, grouped or not), as the output's digits
    /// are exactly the prefix and the visible head and tail.
    #[test]
    fn an_inserted_number_is_masked(
        before in filler(16),
        sample in sample(),
        after in filler(16),
    ) {
        let text = format!("{before}{}{after}", sample.text);
        let masked = mask_text(&text);
        prop_assert_eq!(&masked, &format!("{before}{}{after}", sample.masked));
        prop_assert_eq!(digits_of(&masked), sample.visible_digits);
        let stars = masked.chars().filter(|&c| c == '*').count()
            - text.chars().filter(|&c| c == '*').count();
        prop_assert_eq!(stars, sample.middle.chars().count());
        prop_assert!(sample.middle.len() >= 3);
        prop_assert_eq!(mask_text(&masked), masked);
    }

    /// Several numbers in one text are each masked.
    #[test]
    fn every_number_of_a_text_is_masked(
        parts in prop::collection::vec((filler(8), sample()), 1..5),
        last in filler(8),
    ) {
        // A letter between numbers keeps two of them from joining.
        let text: String = parts.iter().map(|(f, s)| format!("{f}字{}字", s.text)).collect::<String>() + &last;
        let expected: String = parts.iter().map(|(f, s)| format!("{f}字{}字", s.masked)).collect::<String>() + &last;
        prop_assert_eq!(mask_text(&text), expected);
    }

    /// Masking twice is masking once, whatever the text.
    #[test]
    fn masking_is_idempotent(text in any_text()) {
        let once = mask_text(&text);
        prop_assert_eq!(mask_text(&once), once);
    }

    /// Text without numbers of 7 or more digits is left as it is.
    #[test]
    fn text_without_long_numbers_is_unchanged(text in text_without_long_numbers()) {
        prop_assert_eq!(mask_text(&text), text);
    }
}
