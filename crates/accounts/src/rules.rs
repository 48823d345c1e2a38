//! The rules for what an account may be: an email address's shape, a username's length and
//! characters, a password's length. The HTTP API and `spotbot user add` both check with these
//! functions, so the two never disagree. The same holds for bots (see [`crate::bot_rules`]).

/// A value that breaks a rule, and the field it was given for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {message}")]
pub struct InvalidField {
    /// The field, as the HTTP API's JSON names it: `"email"`, `"username"`, `"symbol"`, ...
    pub field: &'static str,
    /// Which rule the value breaks.
    pub message: String,
}

/// The shortest username.
pub const USERNAME_MIN_CHARS: usize = 3;
/// The longest username.
pub const USERNAME_MAX_CHARS: usize = 32;
/// The shortest password.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// The longest password (argon2 would take more, but there is no reason to hash megabytes).
pub const PASSWORD_MAX_CHARS: usize = 128;
/// The longest email address (RFC 5321's limit on a path).
pub const EMAIL_MAX_CHARS: usize = 254;

/// `field` breaks a rule, described by `message`.
pub fn invalid(field: &'static str, message: impl Into<String>) -> InvalidField {
    InvalidField {
        field,
        message: message.into(),
    }
}

/// Checks that `email` looks like an address: `local@domain.tld`, no spaces or control
/// characters, one `@`, a dot inside the domain, at most [`EMAIL_MAX_CHARS`]. Whether it
/// receives mail is not something a shape can tell.
pub fn email(email: &str) -> Result<(), InvalidField> {
    let shape = || invalid("email", "must look like name@example.com");
    if email.chars().count() > EMAIL_MAX_CHARS {
        return Err(invalid(
            "email",
            format!("must be at most {EMAIL_MAX_CHARS} characters"),
        ));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(shape());
    }
    let (local, domain) = email.split_once('@').ok_or_else(shape)?;
    let domain_ok = !domain.contains('@')
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
        && domain.contains('.');
    if local.is_empty() || !domain_ok {
        return Err(shape());
    }
    Ok(())
}

/// Checks that `username` has [`USERNAME_MIN_CHARS`] to [`USERNAME_MAX_CHARS`] characters, each
/// an ASCII letter, digit, `_`, `.` or `-`.
pub fn username(username: &str) -> Result<(), InvalidField> {
    let length = username.chars().count();
    if !(USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&length) {
        return Err(invalid(
            "username",
            format!(
                "must be {USERNAME_MIN_CHARS} to {USERNAME_MAX_CHARS} characters, got {length}"
            ),
        ));
    }
    if let Some(bad) = username
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(invalid(
            "username",
            format!("may hold only letters, digits, '_', '.' and '-', not {bad:?}"),
        ));
    }
    Ok(())
}

/// Checks that `password` has [`PASSWORD_MIN_CHARS`] to [`PASSWORD_MAX_CHARS`] characters and
/// would take more than 10^8 guesses by zxcvbn's estimate, which knows the common passwords,
/// dictionary words, keyboard walks, sequences and repeats, and is told the account's own
/// `username` and `email` (so `password12`, `1234567890`, ten spaces and the username itself are
/// refused, while a few uncommon words pass). The message never repeats the password.
pub fn password(password: &str, username: &str, email: &str) -> Result<(), InvalidField> {
    let length = password.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&length) {
        return Err(invalid(
            "password",
            format!(
                "must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters, got {length}"
            ),
        ));
    }
    let local_part = email.split('@').next().unwrap_or(email);
    let estimate = zxcvbn::zxcvbn(password, &[username, email, local_part, "spotbot"]);
    if estimate.score() < zxcvbn::Score::Three {
        let why = estimate
            .feedback()
            .and_then(|feedback| feedback.warning())
            .map_or_else(String::new, |warning| {
                format!(" ({})", warning.to_string().trim_end_matches('.'))
            });
        return Err(invalid(
            "password",
            format!("is too easy to guess{why}: use a few uncommon words, or a password manager's"),
        ));
    }
    Ok(())
}

/// Checks a new account's email, username and password, in that order.
pub fn account(email_: &str, username_: &str, password_: &str) -> Result<(), InvalidField> {
    email(email_)?;
    username(username_)?;
    password(password_, username_, email_)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shapes() {
        for good in ["a@b.co", "first.last+tag@sub.example.com"] {
            assert_eq!(email(good), Ok(()), "{good}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@b@c.com",
            "a b@c.com",
            "a@.com",
            "a@b..com",
            "a@-b.com",
            &long,
        ] {
            assert_eq!(email(bad).unwrap_err().field, "email", "{bad}");
        }
    }

    #[test]
    fn username_rules() {
        for good in ["abc", "Alice_1.x-y", &"a".repeat(32)] {
            assert_eq!(username(good), Ok(()), "{good}");
        }
        for bad in ["ab", &"a".repeat(33), "al ice", "alicé", "a/b"] {
            assert_eq!(username(bad).unwrap_err().field, "username", "{bad}");
        }
    }

    #[test]
    fn password_rules_count_characters_and_never_echo() {
        let ok = |text: &str| password(text, "alice", "alice@example.com");
        assert_eq!(
            ok("ééééé€ tørrent"),
            Ok(()),
            "counted in characters, not bytes"
        );
        let short = ok("hunter2").unwrap_err();
        assert!(!short.to_string().contains("hunter2"), "{short}");
        assert!(ok(&"xq7".repeat(43)).is_err(), "129 characters");
        assert_eq!(
            ok(&"Zebra-Quartz-9".repeat(10)[..128]),
            Ok(()),
            "128 characters"
        );
    }

    #[test]
    fn passwords_anyone_would_guess_are_refused_saying_why() {
        for guessable in [
            "          ",
            "password12",
            "1234567890",
            "qwertyuiop",
            "aaaaaaaaaaaa",
            "alice12345",
            "alice@example.com",
            "Password123!",
            "spotbot2026",
        ] {
            let refused = password(guessable, "alice", "alice@example.com").unwrap_err();
            assert_eq!(refused.field, "password", "{guessable:?}");
            assert!(
                refused.message.starts_with("is too easy to guess"),
                "{guessable:?}: {}",
                refused.message
            );
            let shown = guessable.trim();
            assert!(
                shown.is_empty() || !refused.message.contains(shown),
                "{guessable:?}: {}",
                refused.message
            );
        }
        for fine in [
            "correct horse battery",
            "correct horse battery staple",
            "a long enough password",
            "schemathesis password",
            "tangerine viaduct 47",
        ] {
            assert_eq!(
                password(fine, "alice", "alice@example.com"),
                Ok(()),
                "{fine}"
            );
        }
    }

    #[test]
    fn an_account_is_checked_field_by_field() {
        assert_eq!(account("a@b.co", "alice", "long enough pw"), Ok(()));
        assert_eq!(
            account("a@b.co", "x", "short").unwrap_err().field,
            "username"
        );
    }
}
