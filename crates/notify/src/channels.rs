//! What a user may create as a channel, checked the same way wherever one is created: a name
//! people will see, a webhook URL that passes [`check_webhook_url`], a Telegram chat id and bot
//! token of the shapes Telegram gives out. A webhook's signing secret is made here (the user
//! cannot pick a weak one) and handed back once; secrets are encrypted with the master key before
//! they reach the store.

use accounts::MasterKey;
use accounts::bot_rules::check_display_name;
use accounts::rules::{InvalidField, invalid};
use store::{ChannelKind, NewChannel, UserId};
use zeroize::Zeroizing;

use crate::targets::check_webhook_url;

/// The longest channel name.
pub const CHANNEL_NAME_MAX_CHARS: usize = 64;
/// The most channels a user may have.
pub const MAX_CHANNELS_PER_USER: usize = 10;
/// The prefix of every webhook signing secret, so that one pasted somewhere is recognised.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// A channel ready to store, and the secret to show its owner once (a webhook's signing secret;
/// nothing for Telegram, whose token the user already has).
pub struct Created {
    /// What to store.
    pub channel: NewChannel,
    /// The webhook's signing secret, shown once.
    pub signing_secret: Option<Zeroizing<String>>,
}

/// A webhook channel of `user` named `name` posting to `url`, with a new signing secret.
/// `allow_private` lets it point at private addresses (see [`crate::targets`]).
pub fn webhook(
    master_key: &MasterKey,
    user: UserId,
    name: &str,
    url: &str,
    allow_private: bool,
) -> Result<Created, InvalidField> {
    check_display_name("name", name, CHANNEL_NAME_MAX_CHARS)?;
    let url = check_webhook_url(url, allow_private).map_err(|bad| invalid("url", bad.0))?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| invalid("url", "no randomness to make a secret"))?;
    let secret = Zeroizing::new(format!("{WEBHOOK_SECRET_PREFIX}{}", hex::encode(bytes)));
    let secret_ciphertext = seal(master_key, user, &secret)?;
    Ok(Created {
        channel: NewChannel {
            user_id: user,
            kind: ChannelKind::Webhook,
            name: name.to_owned(),
            target: url.to_string(),
            secret_ciphertext,
        },
        signing_secret: Some(secret),
    })
}

/// A Telegram channel of `user` named `name`: bot `token` writes to `chat_id`.
pub fn telegram(
    master_key: &MasterKey,
    user: UserId,
    name: &str,
    chat_id: &str,
    token: &str,
) -> Result<Created, InvalidField> {
    check_display_name("name", name, CHANNEL_NAME_MAX_CHARS)?;
    check_chat_id(chat_id)?;
    check_bot_token(token)?;
    Ok(Created {
        channel: NewChannel {
            user_id: user,
            kind: ChannelKind::Telegram,
            name: name.to_owned(),
            target: chat_id.to_owned(),
            secret_ciphertext: seal(master_key, user, token)?,
        },
        signing_secret: None,
    })
}

fn seal(master_key: &MasterKey, user: UserId, secret: &str) -> Result<Vec<u8>, InvalidField> {
    master_key
        .encrypt_channel_secret(user, secret.as_bytes())
        .map_err(|error| invalid("secret", format!("cannot encrypt it: {error}")))
}

/// A chat's numeric id (`123456789`, `-1001234567890` for groups and channels) or a public
/// channel's `@username` (5 to 32 of `A-Z a-z 0-9 _`).
fn check_chat_id(chat_id: &str) -> Result<(), InvalidField> {
    let numeric = chat_id
        .strip_prefix('-')
        .unwrap_or(chat_id)
        .chars()
        .all(|c| c.is_ascii_digit())
        && (1..=20).contains(&chat_id.len());
    let username = chat_id.strip_prefix('@').is_some_and(|name| {
        (5..=32).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    if numeric || username {
        Ok(())
    } else {
        Err(invalid(
            "chat_id",
            "must be a chat's numeric id (e.g. 123456789 or -1001234567890) or a public channel's @username",
        ))
    }
}

/// A token as @BotFather gives it: the bot's numeric id, `:`, then 30 to 100 of `A-Z a-z 0-9 _ -`.
fn check_bot_token(token: &str) -> Result<(), InvalidField> {
    let shaped = token.split_once(':').is_some_and(|(id, secret)| {
        (1..=20).contains(&id.len())
            && id.chars().all(|c| c.is_ascii_digit())
            && (30..=100).contains(&secret.len())
            && secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if shaped {
        Ok(())
    } else {
        Err(invalid(
            "bot_token",
            "must be the token @BotFather gave, like 123456789:AAE... (digits, a colon, then 30 to 100 letters, digits, _ or -)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_bytes([3; 32])
    }

    #[test]
    fn a_webhook_gets_a_fresh_secret_that_opens_with_the_master_key() {
        let a = webhook(
            &key(),
            UserId(4),
            "ops",
            "https://hooks.example.com/x",
            false,
        )
        .unwrap();
        let b = webhook(
            &key(),
            UserId(4),
            "ops",
            "https://hooks.example.com/x",
            false,
        )
        .unwrap();
        let secret = a.signing_secret.unwrap();
        assert!(secret.starts_with(WEBHOOK_SECRET_PREFIX) && secret.len() == 70);
        assert_ne!(Some(secret.clone()), b.signing_secret);
        let opened = key()
            .decrypt_channel_secret(UserId(4), &a.channel.secret_ciphertext)
            .unwrap();
        assert_eq!(&opened[..], secret.as_bytes());
    }

    #[test]
    fn bad_fields_are_named() {
        let field = |result: Result<Created, InvalidField>| result.err().unwrap().field;
        assert_eq!(
            field(webhook(
                &key(),
                UserId(1),
                "\u{200b}",
                "https://a.example/",
                false
            )),
            "name"
        );
        assert_eq!(
            field(webhook(&key(), UserId(1), "ok", "http://127.0.0.1/", false)),
            "url"
        );
        let token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef";
        assert!(telegram(&key(), UserId(1), "phone", "-1001234567890", token).is_ok());
        assert!(telegram(&key(), UserId(1), "phone", "@spotbot_alerts", token).is_ok());
        assert_eq!(
            field(telegram(&key(), UserId(1), "phone", "12a", token)),
            "chat_id"
        );
        assert_eq!(
            field(telegram(&key(), UserId(1), "phone", "1", "abc")),
            "bot_token"
        );
        assert_eq!(
            field(telegram(&key(), UserId(1), "phone", "1", "1:short")),
            "bot_token"
        );
    }
}
