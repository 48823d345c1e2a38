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

/// Checks that `password` has [`PASSWORD_MIN_CHARS`] to [`PASSWORD_MAX_CHARS`] characters. The
/// message never repeats the password.
pub fn password(password: &str) -> Result<(), InvalidField> {
    let length = password.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&length) {
        return Err(invalid(
            "password",
            format!(
                "must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters, got {length}"
            ),
        ));
    }
    Ok(())
}

/// Checks a new account's email, username and password, in that order.
pub fn account(email_: &str, username_: &str, password_: &str) -> Result<(), InvalidField> {
    email(email_)?;
    username(username_)?;
    password(password_)
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
        assert_eq!(password("ééééééééé€"), Ok(()), "10 characters, more bytes");
        let short = password("hunter2").unwrap_err();
        assert!(!short.to_string().contains("hunter2"), "{short}");
        assert!(password(&"x".repeat(129)).is_err());
        assert_eq!(password(&"x".repeat(128)), Ok(()));
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
