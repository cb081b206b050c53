//! The account-number guard: Tollgate never accepts a full card number or bank account number,
//! so request bodies are scanned for anything that looks like one before they are parsed or
//! stored. The PSP's fingerprint, the BIN and the last four digits stand in for them.

use std::str::FromStr;

use serde_json::Value;

/// A run of this many digits could be a card number (PANs are 12 to 19 digits).
pub const PAN_MIN_DIGITS: usize = 12;

/// Field names that only ever hold a full account number, whatever their value looks like.
const ACCOUNT_NUMBER_FIELDS: &[&str] = &["account_number", "card_number", "iban", "pan"];

/// What the guard found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountNumberKind {
    /// 12 or more digits in a row: a card number, or a long bank account number.
    DigitRun,
    /// An IBAN with a valid check sum and the length and layout its country registers.
    Iban,
    /// A field named for a full account number (`iban`, `account_number`, `card_number`, `pan`).
    Field,
}

/// The first place a body holds something that looks like a full account number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountNumberFound {
    /// `card.number`, `items[2].sku`; "" for the body itself.
    pub path: String,
    pub kind: AccountNumberKind,
}

/// The first string, number or object key holding a card number (a run of 12 or more digits,
/// counting digits separated only by single spaces or dashes, `4111 1111-1111 1111`, as one
/// run), an IBAN, or a field named for an account number. `exempt` lists paths that may
/// legitimately hold long digit runs, such as an E.164 `contact.phone` (up to 15 digits).
pub fn find_account_number(body: &Value, exempt: &[&str]) -> Option<AccountNumberFound> {
    scan(body, String::new(), exempt)
}

fn found(path: String, kind: AccountNumberKind) -> Option<AccountNumberFound> {
    Some(AccountNumberFound { path, kind })
}

fn scan(value: &Value, path: String, exempt: &[&str]) -> Option<AccountNumberFound> {
    if exempt.contains(&path.as_str()) {
        return None;
    }
    match value {
        Value::String(text) if is_tollgate_id(text) => None,
        Value::String(text) => classify(text).and_then(|kind| found(path, kind)),
        Value::Number(number) => has_pan_like_run(&number.to_string())
            .then_some(path)
            .and_then(|path| found(path, AccountNumberKind::DigitRun)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| scan(item, format!("{path}[{index}]"), exempt)),
        Value::Object(fields) => fields.iter().find_map(|(key, field)| {
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if exempt.contains(&child.as_str()) {
                return None;
            }
            if ACCOUNT_NUMBER_FIELDS.contains(&key.to_ascii_lowercase().as_str()) {
                return found(child, AccountNumberKind::Field);
            }
            if let Some(kind) = classify(key) {
                return found(child, kind);
            }
            scan(field, child, exempt)
        }),
        Value::Null | Value::Bool(_) => None,
    }
}

fn classify(text: &str) -> Option<AccountNumberKind> {
    if has_pan_like_run(text) {
        Some(AccountNumberKind::DigitRun)
    } else if has_iban(text) {
        Some(AccountNumberKind::Iban)
    } else {
        None
    }
}

/// Whether `text` holds an IBAN, in the electronic form (`DE89370400440532013000`) or the
/// paper form in groups of four (`DE89 3704 0044 0532 0130 00`), in either case. Candidates
/// start at a word boundary with two letters and two digits; each is checked by the
/// `iban_validate` crate against its country's registered length and layout and the mod-97
/// check digits, so text that merely has that shape does not trip the guard.
pub fn has_iban(text: &str) -> bool {
    const MAX_IBAN: usize = 34;
    const MIN_IBAN: usize = 15;
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(3)).any(|start| {
        let starts_word = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if !starts_word
            || !bytes[start..start + 2].iter().all(u8::is_ascii_alphabetic)
            || !bytes[start + 2..start + 4].iter().all(u8::is_ascii_digit)
        {
            return false;
        }
        let mut compact = String::with_capacity(MAX_IBAN);
        let mut after_space = false;
        for &b in &bytes[start..] {
            if b.is_ascii_alphanumeric() {
                compact.push(char::from(b.to_ascii_uppercase()));
                after_space = false;
                if compact.len() == MAX_IBAN {
                    break;
                }
            } else if b == b' ' && !after_space {
                after_space = true;
            } else {
                break;
            }
        }
        (MIN_IBAN..=compact.len()).any(|len| iban::Iban::from_str(&compact[..len]).is_ok())
    })
}

/// Tollgate's own ids (`cus_` + 32 hex digits) often hold long runs of decimal digits by chance;
/// they are identifiers the caller got from us, not card numbers.
fn is_tollgate_id(text: &str) -> bool {
    text.split_once('_').is_some_and(|(prefix, hex)| {
        (2..=4).contains(&prefix.len())
            && prefix.bytes().all(|b| b.is_ascii_lowercase())
            && hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Whether `text` holds 12+ digits in a row, allowing single spaces or dashes between them.
pub fn has_pan_like_run(text: &str) -> bool {
    let mut run = 0usize;
    let mut pending_separator = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            run += 1;
            pending_separator = false;
            if run >= PAN_MIN_DIGITS {
                return true;
            }
        } else if (c == ' ' || c == '-') && run > 0 && !pending_separator {
            pending_separator = true;
        } else {
            run = 0;
            pending_separator = false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(body: &Value, exempt: &[&str]) -> Option<(String, AccountNumberKind)> {
        find_account_number(body, exempt).map(|found| (found.path, found.kind))
    }

    fn at(path: &str, kind: AccountNumberKind) -> Option<(String, AccountNumberKind)> {
        Some((path.to_owned(), kind))
    }

    #[test]
    fn tollgate_ids_are_not_card_numbers() {
        let body = json!({ "customer_id": "cus_01a2141234567890123c1149d76675b9", "note": "pm_4111111111111111" });
        assert_eq!(path(&body, &[]), at("note", AccountNumberKind::DigitRun));
        assert!(is_tollgate_id("pm_01a2141234567890123c1149d76675b9"));
        assert!(!is_tollgate_id("x_01a2141234567890123c1149d76675b9"));
    }

    #[test]
    fn runs_of_digits_with_single_separators_count() {
        assert!(has_pan_like_run("4111111111111111"));
        assert!(has_pan_like_run("card 4111 1111 1111 1111 please"));
        assert!(has_pan_like_run("4111-1111-1111-1111"));
        assert!(has_pan_like_run("123456789012"));
        assert!(!has_pan_like_run("12345678901"));
        assert!(
            !has_pan_like_run("4111  1111  1111  1111"),
            "double spaces break the run"
        );
        assert!(!has_pan_like_run("2026-11-25T12:00:00Z"));
        assert!(!has_pan_like_run("123456.789012"));
        assert!(!has_pan_like_run(""));
    }

    #[test]
    fn ibans_in_either_format_and_case() {
        // Example IBANs from the national registries; NL's has only 10 digits in a row, so
        // only the IBAN check catches it.
        assert!(has_iban("NL91ABNA0417164300"));
        assert!(has_iban("pay from nl91 abna 0417 1643 00 please"));
        assert!(has_iban("DE89 3704 0044 0532 0130 00"));
        assert!(has_iban("GB29NWBK60161331926819."));
        assert!(has_iban("(FR1420041010050500013M02606)"));
    }

    #[test]
    fn iban_shaped_text_without_valid_check_digits_passes() {
        assert!(!has_iban("NL92ABNA0417164300"), "check digits off by one");
        assert!(!has_iban("NL91ABNA041716430"), "one character short");
        assert!(!has_iban("XX91ABNA0417164300"), "no such country");
        assert!(!has_iban("Mozilla/5.0 (Windows NT 10.0; Win64; x64)"));
        assert!(
            !has_iban("COBADEFFXXX"),
            "a BIC names a bank, not an account"
        );
        assert!(!has_iban("xNL91ABNA0417164300"), "must start a word");
        assert!(!has_iban(""));
    }

    #[test]
    fn finds_the_path_of_the_first_account_number() {
        let body = json!({"bin": "424242", "last4": "4242", "exp_year": 2030});
        assert_eq!(path(&body, &[]), None);
        let body = json!({"card": {"bin": "424242", "number": "4242 4242 4242 4242"}});
        assert_eq!(
            path(&body, &[]),
            at("card.number", AccountNumberKind::DigitRun)
        );
        let body = json!({"items": [{"sku": "a"}, {"sku": 4242424242424242u64}]});
        assert_eq!(
            path(&body, &[]),
            at("items[1].sku", AccountNumberKind::DigitRun)
        );
        let body = json!({"notes": {"4242424242424242": true}});
        assert_eq!(
            path(&body, &[]),
            at("notes.4242424242424242", AccountNumberKind::DigitRun)
        );
        assert_eq!(
            path(&json!("4242424242424242"), &[]),
            at("", AccountNumberKind::DigitRun)
        );
        let body = json!({"type": "bank_account", "holder_name": "Acme NL91ABNA0417164300"});
        assert_eq!(path(&body, &[]), at("holder_name", AccountNumberKind::Iban));
    }

    #[test]
    fn fields_named_for_account_numbers_are_refused_whatever_they_hold() {
        let body = json!({"type": "bank_account", "last4": "4300", "IBAN": "****4300"});
        assert_eq!(path(&body, &[]), at("IBAN", AccountNumberKind::Field));
        let body = json!({"mandate": {"account_number": null}});
        assert_eq!(
            path(&body, &[]),
            at("mandate.account_number", AccountNumberKind::Field)
        );
    }

    #[test]
    fn exempt_paths_are_skipped() {
        let body = json!({"contact": {"phone": "+4915112345678"}, "card": "4242424242424242"});
        assert_eq!(
            path(&body, &["contact.phone"]),
            at("card", AccountNumberKind::DigitRun)
        );
        assert_eq!(path(&body, &["contact.phone", "card"]), None);
    }
}
