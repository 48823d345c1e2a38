//! Exchange credentials, one key per user and venue: put, replace, read, delete, insert only when
//! absent (also from two stores at once), verification of the key that was checked, values
//! changed behind the store's back, and the move of the old one-key-per-user table to the
//! testnet by migration 0004.

use store::testing::TestDatabase;
use store::{
    Backend, KeyType, Mode, NewCredentials, StoreError, StoredCredentials, UserId, Verification,
};

use crate::common::{count, user};

/// An unverified HMAC key `api_key` of `user` for `venue`, its ciphertext naming both.
fn new_key(user: UserId, venue: Mode, api_key: &str) -> NewCredentials {
    NewCredentials {
        user_id: user,
        venue,
        key_type: KeyType::Hmac,
        api_key: api_key.to_owned(),
        secret_ciphertext: format!("sealed-{api_key}-{venue}").into_bytes(),
        verification: None,
        is_paper_account: false,
    }
}

/// A verification at `verified_at_ms` that the key may trade on the spot market.
fn spot_trading(verified_at_ms: i64) -> Verification {
    Verification {
        verified_at_ms,
        can_trade: true,
        permissions: vec!["SPOT".to_owned(), "TRD_GRP_004".to_owned()],
    }
}

/// What reading `new`, stored at `set_at_ms`, must give.
fn stored(new: &NewCredentials, set_at_ms: i64) -> StoredCredentials {
    StoredCredentials {
        user_id: new.user_id,
        venue: new.venue,
        key_type: new.key_type,
        api_key: new.api_key.clone(),
        secret_ciphertext: new.secret_ciphertext.clone(),
        set_at_ms,
        verification: new.verification.clone(),
        is_paper_account: new.is_paper_account,
    }
}

store::backend_tests! {
    async fn each_venue_has_its_own_key_put_replaced_read_and_deleted(store: Store) {
        let alice = user(&store, "alice").await;
        let bob = user(&store, "bob").await;
        for venue in Mode::ALL {
            assert_eq!(store.credentials(alice.id, *venue).await.unwrap(), None);
        }
        assert!(store.user_credentials(alice.id).await.unwrap().is_empty());

        let mut testnet = new_key(alice.id, Mode::Testnet, "testnet-key-1");
        testnet.secret_ciphertext = (0..=255).collect();
        assert!(!store.put_credentials(&testnet, 10).await.unwrap());
        let live = NewCredentials {
            key_type: KeyType::Ed25519,
            verification: Some(spot_trading(15)),
            ..new_key(alice.id, Mode::Live, "live-key")
        };
        assert!(!store.put_credentials(&live, 20).await.unwrap());
        assert_eq!(
            store.credentials(alice.id, Mode::Testnet).await.unwrap(),
            Some(stored(&testnet, 10))
        );
        assert_eq!(
            store.credentials(alice.id, Mode::Live).await.unwrap(),
            Some(stored(&live, 20))
        );
        assert_eq!(store.credentials(alice.id, Mode::Paper).await.unwrap(), None);

        // Replacing the testnet key leaves the live one as it was.
        let replacement = NewCredentials {
            verification: Some(Verification {
                verified_at_ms: 29,
                can_trade: false,
                permissions: Vec::new(),
            }),
            ..new_key(alice.id, Mode::Testnet, "testnet-key-2")
        };
        assert!(store.put_credentials(&replacement, 30).await.unwrap());
        assert_eq!(
            store.credentials(alice.id, Mode::Testnet).await.unwrap(),
            Some(stored(&replacement, 30))
        );
        // A replacement writes all of itself: an unverified key clears the verification.
        assert!(store.put_credentials(&testnet, 40).await.unwrap());
        assert_eq!(
            store.credentials(alice.id, Mode::Testnet).await.unwrap(),
            Some(stored(&testnet, 40))
        );

        // Bob's paper key is his alone; Alice's list comes in the order of Mode::ALL.
        let bobs = NewCredentials {
            is_paper_account: true,
            ..new_key(bob.id, Mode::Paper, "bob-paper")
        };
        assert!(!store.put_credentials(&bobs, 50).await.unwrap());
        assert_eq!(
            store.user_credentials(alice.id).await.unwrap(),
            vec![stored(&testnet, 40), stored(&live, 20)]
        );
        assert_eq!(store.user_credentials(bob.id).await.unwrap(), vec![stored(&bobs, 50)]);
        assert_eq!(count(&store, "venue_credentials").await, 3);

        assert!(store.delete_credentials(alice.id, Mode::Testnet).await.unwrap());
        assert!(!store.delete_credentials(alice.id, Mode::Testnet).await.unwrap());
        assert!(!store.delete_credentials(alice.id, Mode::Paper).await.unwrap());
        assert_eq!(store.credentials(alice.id, Mode::Testnet).await.unwrap(), None);
        assert_eq!(
            store.user_credentials(alice.id).await.unwrap(),
            vec![stored(&live, 20)]
        );
        assert_eq!(
            store.credentials(bob.id, Mode::Paper).await.unwrap(),
            Some(stored(&bobs, 50))
        );
    }

    async fn credentials_for_no_user_or_with_a_blank_key_are_refused(store: Store) {
        let nobody = new_key(UserId(424_242), Mode::Paper, "key");
        assert!(matches!(
            store.put_credentials(&nobody, 1).await,
            Err(StoreError::NotFound { what: "user", key }) if key == "424242"
        ));
        assert!(matches!(
            store.insert_credentials_if_absent(&nobody, 1).await,
            Err(StoreError::NotFound { what: "user", key }) if key == "424242"
        ));
        let alice = user(&store, "alice").await;
        let blank = new_key(alice.id, Mode::Paper, " ");
        match store.put_credentials(&blank, 1).await {
            Err(error @ StoreError::InvalidValue { field: "api_key", .. }) => {
                assert_eq!(error.to_string(), "invalid api_key: must not be empty");
            }
            other => panic!("expected a refused API key, got {other:?}"),
        }
        assert!(matches!(
            store.insert_credentials_if_absent(&blank, 1).await,
            Err(StoreError::InvalidValue { field: "api_key", .. })
        ));
        assert_eq!(count(&store, "venue_credentials").await, 0);
    }

    async fn a_key_is_inserted_only_while_its_venue_has_none(store: Store) {
        let alice = user(&store, "alice").await;
        let first = NewCredentials {
            is_paper_account: true,
            ..new_key(alice.id, Mode::Paper, "paper-1")
        };
        assert!(store.insert_credentials_if_absent(&first, 10).await.unwrap());
        let second = NewCredentials {
            is_paper_account: true,
            ..new_key(alice.id, Mode::Paper, "paper-2")
        };
        assert!(!store.insert_credentials_if_absent(&second, 20).await.unwrap());
        assert_eq!(
            store.credentials(alice.id, Mode::Paper).await.unwrap(),
            Some(stored(&first, 10))
        );
        // Another venue of the same user is another slot.
        let testnet = new_key(alice.id, Mode::Testnet, "testnet-1");
        assert!(store.insert_credentials_if_absent(&testnet, 30).await.unwrap());
        assert_eq!(count(&store, "venue_credentials").await, 2);
    }

    async fn of_two_stores_inserting_at_once_one_wins_and_both_read_its_key(db: &TestDatabase) {
        let alice = user(db.store(), "alice").await;
        let other = db.another_store().await;
        for round in 0..5 {
            let venue = Mode::ALL[round % Mode::ALL.len()];
            db.store().delete_credentials(alice.id, venue).await.unwrap();
            let mine = new_key(alice.id, venue, &format!("first-{round}"));
            let theirs = new_key(alice.id, venue, &format!("second-{round}"));
            let (mine_won, theirs_won) = tokio::join!(
                db.store().insert_credentials_if_absent(&mine, 100),
                other.insert_credentials_if_absent(&theirs, 200),
            );
            let (mine_won, theirs_won) = (mine_won.unwrap(), theirs_won.unwrap());
            assert!(mine_won != theirs_won, "round {round}: {mine_won} {theirs_won}");
            let winner = if mine_won { stored(&mine, 100) } else { stored(&theirs, 200) };
            assert_eq!(db.store().credentials(alice.id, venue).await.unwrap(), Some(winner.clone()));
            assert_eq!(other.credentials(alice.id, venue).await.unwrap(), Some(winner));
        }
        other.close().await;
    }

    async fn of_two_first_puts_at_once_exactly_one_replaces(db: &TestDatabase) {
        let alice = user(db.store(), "alice").await;
        let other = db.another_store().await;
        for round in 0..5 {
            db.store().delete_credentials(alice.id, Mode::Live).await.unwrap();
            let mine = new_key(alice.id, Mode::Live, &format!("first-{round}"));
            let theirs = new_key(alice.id, Mode::Live, &format!("second-{round}"));
            let (mine_replaced, theirs_replaced) = tokio::join!(
                db.store().put_credentials(&mine, 100),
                other.put_credentials(&theirs, 200),
            );
            let (mine_replaced, theirs_replaced) = (mine_replaced.unwrap(), theirs_replaced.unwrap());
            assert!(mine_replaced != theirs_replaced, "round {round}: {mine_replaced} {theirs_replaced}");
            // The one that replaced wrote last.
            let last = if mine_replaced { stored(&mine, 100) } else { stored(&theirs, 200) };
            assert_eq!(db.store().credentials(alice.id, Mode::Live).await.unwrap(), Some(last));
        }
        other.close().await;
    }

    async fn a_verification_lands_only_on_the_key_that_was_checked(store: Store) {
        let alice = user(&store, "alice").await;
        let checked = spot_trading(1_500);
        assert!(
            !store
                .set_credentials_verified(alice.id, Mode::Live, &checked, "live-1")
                .await
                .unwrap()
        );
        let first = new_key(alice.id, Mode::Live, "live-1");
        store.put_credentials(&first, 1_000).await.unwrap();
        assert!(
            store
                .set_credentials_verified(alice.id, Mode::Live, &checked, "live-1")
                .await
                .unwrap()
        );
        let verified = store.credentials(alice.id, Mode::Live).await.unwrap().unwrap();
        assert_eq!(verified.verification, Some(checked.clone()));
        assert_eq!(verified.set_at_ms, 1_000);

        // The user puts another key while the check of the first is under way: the late
        // answer about the first must not mark the second as verified.
        let second = new_key(alice.id, Mode::Live, "live-2");
        assert!(store.put_credentials(&second, 2_000).await.unwrap());
        let late = Verification {
            can_trade: false,
            ..spot_trading(2_500)
        };
        assert!(
            !store
                .set_credentials_verified(alice.id, Mode::Live, &late, "live-1")
                .await
                .unwrap()
        );
        assert_eq!(
            store.credentials(alice.id, Mode::Live).await.unwrap(),
            Some(stored(&second, 2_000))
        );
        // Nor does a verification for another venue.
        assert!(
            !store
                .set_credentials_verified(alice.id, Mode::Testnet, &late, "live-2")
                .await
                .unwrap()
        );
        assert_eq!(
            store.credentials(alice.id, Mode::Live).await.unwrap().unwrap().verification,
            None
        );
    }

    async fn stored_credentials_that_make_no_sense_are_corrupt(store: Store) {
        let alice = user(&store, "alice").await;
        let key = NewCredentials {
            verification: Some(spot_trading(5)),
            ..new_key(alice.id, Mode::Testnet, "key")
        };
        store.put_credentials(&key, 10).await.unwrap();
        // Each change builds on the one before it.
        for (tampering, column, detail) in [
            (
                "UPDATE venue_credentials SET permissions = 'SPOT,MARGIN' WHERE user_id = $1",
                "permissions",
                "\"SPOT,MARGIN\" is not a JSON array of strings",
            ),
            (
                "UPDATE venue_credentials SET verified_at_ms = NULL, permissions = '[]' \
                 WHERE user_id = $1",
                "can_trade",
                "set on a key never verified",
            ),
            (
                "UPDATE venue_credentials SET can_trade = NULL WHERE user_id = $1",
                "permissions",
                "set on a key never verified",
            ),
            (
                "UPDATE venue_credentials SET verified_at_ms = 5, permissions = NULL \
                 WHERE user_id = $1",
                "can_trade",
                "NULL on a verified key",
            ),
            (
                "UPDATE venue_credentials SET can_trade = 2, permissions = '[]' WHERE user_id = $1",
                "can_trade",
                "2 is not a boolean",
            ),
            (
                "UPDATE venue_credentials SET can_trade = 1, key_type = 'rsa' WHERE user_id = $1",
                "key_type",
                "unknown key type \"rsa\"",
            ),
        ] {
            sqlx::query(tampering).bind(alice.id.0).execute(store.raw_pool()).await.unwrap();
            for result in [
                store.credentials(alice.id, Mode::Testnet).await.map(|_| ()),
                store.user_credentials(alice.id).await.map(|_| ()),
            ] {
                match result {
                    Err(StoreError::Corrupt { table, column: c, row_id, detail: d }) => {
                        assert_eq!((table, c), ("venue_credentials", column), "{tampering}");
                        assert_eq!(row_id, alice.id.to_string());
                        assert!(d.contains(detail), "{tampering}: {d}");
                    }
                    other => panic!("{tampering}: expected corrupt {column}, got {other:?}"),
                }
            }
        }
    }
}

/// The rows of a database of spotbot before migration 0004, in `backend`'s dialect: users alice
/// (with one key) and bob (without).
fn rows_before_venues(backend: Backend) -> String {
    let ciphertext = match backend {
        Backend::Sqlite => "X'00ff10'",
        Backend::Postgres => "decode('00ff10', 'hex')",
    };
    format!(
        "INSERT INTO users (email, username, password_hash, role, created_at_ms) \
         VALUES ('alice@example.com', 'alice', NULL, 'user', 1000), \
                ('bob@example.com', 'bob', NULL, 'user', 1001); \
         INSERT INTO exchange_credentials (user_id, api_key, secret_ciphertext, updated_at_ms) \
         SELECT id, 'old-key', {ciphertext}, 1700000000123 FROM users WHERE username = 'alice';"
    )
}

/// Migration 0004 on a database whose credentials were written under 0001's one-key-per-user
/// table: the key moves to the testnet, as an HMAC key never verified, and the old table goes.
async fn old_credentials_move_to_the_testnet(backend: Backend) {
    let Some(db) = TestDatabase::upgraded_from(backend, 3, &rows_before_venues(backend)).await
    else {
        eprintln!("skipped: {} not set", store::testing::POSTGRES_URL_ENV);
        return;
    };
    let store = db.store();
    let alice = store.user_by_username("alice").await.unwrap().unwrap();
    let bob = store.user_by_username("bob").await.unwrap().unwrap();
    let moved = StoredCredentials {
        user_id: alice.id,
        venue: Mode::Testnet,
        key_type: KeyType::Hmac,
        api_key: "old-key".to_owned(),
        secret_ciphertext: vec![0x00, 0xff, 0x10],
        set_at_ms: 1_700_000_000_123,
        verification: None,
        is_paper_account: false,
    };
    assert_eq!(store.user_credentials(alice.id).await.unwrap(), vec![moved]);
    assert!(store.user_credentials(bob.id).await.unwrap().is_empty());
    let old_table = sqlx::query("SELECT COUNT(*) FROM exchange_credentials")
        .execute(store.raw_pool())
        .await;
    assert!(old_table.is_err(), "exchange_credentials is still there");
    db.cleanup().await;
}

#[tokio::test]
async fn old_credentials_move_to_the_testnet_on_sqlite() {
    old_credentials_move_to_the_testnet(Backend::Sqlite).await;
}

#[tokio::test]
async fn old_credentials_move_to_the_testnet_on_postgres() {
    old_credentials_move_to_the_testnet(Backend::Postgres).await;
}

#[test]
fn ciphertexts_stay_out_of_debug_output() {
    let new = new_key(UserId(1), Mode::Live, "key");
    let shown = format!("{new:?}");
    // "sealed-key-live" is 15 bytes; its first bytes in Debug's list form would be "115, 101".
    assert!(
        !shown.contains("115, 101") && !shown.contains("sealed"),
        "{shown}"
    );
    assert!(shown.contains("<15 bytes>"), "{shown}");
    let stored = stored(&new, 0);
    let shown = format!("{stored:?}");
    assert!(
        !shown.contains("115, 101") && !shown.contains("sealed"),
        "{shown}"
    );
    assert!(
        shown.contains("<15 bytes>") && shown.contains("api_key: \"key\""),
        "{shown}"
    );
}
