//! The small value types every table shares: row ids ([`UserId`], [`BotId`], [`TradeId`],
//! [`ChannelId`], [`DeliveryId`]) and the enums stored as their lower-case spelling ([`Role`],
//! [`Mode`], [`BotStatus`], [`OrderStatus`], [`KeyType`], [`ChannelKind`], [`NotifyEvent`],
//! [`DeliveryStatus`]), with the error for a spelling that is none of them ([`UnknownValue`]).

use std::fmt;
use std::str::FromStr;

/// Declares an `i64` row-id newtype that prints as the bare number.
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

id_type!(
    /// The id of a row of `users`.
    UserId
);
id_type!(
    /// The id of a row of `bot_configs`.
    BotId
);
id_type!(
    /// The id of a row of `trades`.
    TradeId
);
id_type!(
    /// The id of a row of `notification_channels`.
    ChannelId
);
id_type!(
    /// The id of a row of `notification_deliveries`.
    DeliveryId
);

/// A stored spelling that names no value of the enum it should hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}: expected one of {}", expected.join(", "))]
pub struct UnknownValue {
    /// What the text should have named, e.g. `"bot status"`.
    pub what: &'static str,
    /// The text given.
    pub given: String,
    /// Every accepted spelling.
    pub expected: &'static [&'static str],
}

/// Declares an enum stored as text: `as_str`, `Display`, `FromStr` (exact spelling) and `ALL`.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $($(#[$variant_meta:meta])* $variant:ident => $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored spelling.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            /// Exact, case-sensitive spelling, as stored.
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue {
                        what: $what,
                        given: text.to_owned(),
                        expected: &[$($text,)+],
                    }),
                }
            }
        }
    };
}

text_enum!(
    /// What a user may do: manage their own bots, or everything.
    Role, "role" {
        /// An ordinary user.
        User => "user",
        /// An administrator.
        Admin => "admin",
    }
);

text_enum!(
    /// Where a bot's orders go: its venue. A user has one account, and so one set of
    /// credentials, per venue.
    Mode, "mode" {
        /// The local simulated exchange.
        Paper => "paper",
        /// Binance's spot testnet.
        Testnet => "testnet",
        /// Binance, with real money.
        Live => "live",
    }
);

text_enum!(
    /// How an exchange API key signs its requests, which decides what its stored secret is.
    KeyType, "key type" {
        /// An HMAC-SHA256 key: the secret is the string the exchange handed out with the key.
        Hmac => "hmac",
        /// An Ed25519 key: the secret is the private key whose public half the user registered.
        Ed25519 => "ed25519",
    }
);

text_enum!(
    /// What a bot is doing, as the engine last recorded it.
    BotStatus, "bot status" {
        /// Not running a cycle.
        Idle => "idle",
        /// Running a cycle.
        Running => "running",
        /// The last cycle failed (see the bot's `last_error`).
        Error => "error",
        /// Held back from running (by a user, or by the engine after repeated failures).
        Paused => "paused",
    }
);

text_enum!(
    /// The fate of a write-ahead order.
    OrderStatus, "order status" {
        /// Written, not yet known to have reached the exchange.
        Pending => "pending",
        /// Executed completely (its trade row exists).
        Filled => "filled",
        /// Executed in part (its trade row exists).
        PartiallyFilled => "partially_filled",
        /// Refused by the exchange; nothing executed.
        Rejected => "rejected",
        /// Sent, but its outcome is not known (a timeout, a 5xx): must be reconciled.
        Unknown => "unknown",
        /// Ended on the exchange with nothing executed, or known never to have been placed.
        NotExecuted => "not_executed",
    }
);

text_enum!(
    /// How a notification channel reaches its user.
    ChannelKind, "channel kind" {
        /// An HTTP POST of JSON to the user's URL, signed with HMAC-SHA256.
        Webhook => "webhook",
        /// A message from the user's Telegram bot to one chat.
        Telegram => "telegram",
    }
);

text_enum!(
    /// What a notification tells of.
    NotifyEvent, "notification event" {
        /// A bot's order executed.
        Trade => "trade",
        /// A bot's order may have executed and nobody knows yet: the bot waits for
        /// reconciliation.
        OrderInDoubt => "order_in_doubt",
        /// A bot's cycle failed, or the bot was paused (after repeated failures, or because its
        /// exchange key was refused or removed).
        BotError => "bot_error",
        /// A bot's day, sent after midnight UTC: its trades, volume, fees and realised PnL.
        DailySummary => "daily_summary",
        /// A message the user asked for, to see that a channel works.
        Test => "test",
    }
);

impl NotifyEvent {
    /// The events a user may opt a bot into (all but [`NotifyEvent::Test`]).
    pub const SUBSCRIBABLE: &'static [NotifyEvent] = &[
        NotifyEvent::Trade,
        NotifyEvent::OrderInDoubt,
        NotifyEvent::BotError,
        NotifyEvent::DailySummary,
    ];
}

text_enum!(
    /// Where a notification is on its way.
    DeliveryStatus, "delivery status" {
        /// Not delivered yet: waiting for its first attempt or its next one.
        Pending => "pending",
        /// The receiver accepted it.
        Delivered => "delivered",
        /// Every attempt failed: given up.
        Failed => "failed",
    }
);

impl OrderStatus {
    /// Whether the order executed: its trade row exists and its status must not change again.
    pub const fn is_executed(self) -> bool {
        matches!(self, OrderStatus::Filled | OrderStatus::PartiallyFilled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_enum_round_trips_through_its_spelling() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(*role));
        }
        for mode in Mode::ALL {
            assert_eq!(mode.to_string().parse::<Mode>(), Ok(*mode));
        }
        for status in BotStatus::ALL {
            assert_eq!(status.as_str().parse::<BotStatus>(), Ok(*status));
        }
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>(), Ok(*status));
        }
        for key_type in KeyType::ALL {
            assert_eq!(key_type.as_str().parse::<KeyType>(), Ok(*key_type));
        }
        for kind in ChannelKind::ALL {
            assert_eq!(kind.as_str().parse::<ChannelKind>(), Ok(*kind));
        }
        for event in NotifyEvent::ALL {
            assert_eq!(event.as_str().parse::<NotifyEvent>(), Ok(*event));
        }
        for status in DeliveryStatus::ALL {
            assert_eq!(status.as_str().parse::<DeliveryStatus>(), Ok(*status));
        }
        assert_eq!(KeyType::Ed25519.to_string(), "ed25519");
        assert_eq!(OrderStatus::PartiallyFilled.as_str(), "partially_filled");
        assert_eq!(OrderStatus::NotExecuted.as_str(), "not_executed");
    }

    #[test]
    fn an_unknown_spelling_names_what_was_expected() {
        let error = "Paused".parse::<BotStatus>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown bot status \"Paused\": expected one of idle, running, error, paused"
        );
    }

    #[test]
    fn ids_print_as_bare_numbers() {
        assert_eq!(BotId(42).to_string(), "42");
        assert_eq!(format!("{:>4}", UserId(7)), "   7");
        assert!(TradeId(1) < TradeId(2));
    }
}
