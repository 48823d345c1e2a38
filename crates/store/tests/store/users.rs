//! Users (their exchange credentials are in `credentials.rs`).

use store::{NewUser, Role, StoreError, UserId};

use crate::common::{count, user};

fn admin() -> NewUser {
    NewUser {
        email: "root@example.com".to_owned(),
        username: "root".to_owned(),
        password_hash: None,
        role: Role::Admin,
    }
}

store::backend_tests! {
    async fn users_round_trip_every_field(store: Store) {
        let alice = user(&store, "alice").await;
        assert_eq!(alice.email, "alice@example.com");
        assert_eq!(alice.username, "alice");
        assert_eq!(alice.role, Role::User);
        assert_eq!(alice.created_at_ms, 1_000);
        let root = store
            .create_user(&admin(), 1_700_000_000_123)
            .await
            .unwrap();
        assert_eq!(root.role, Role::Admin);
        assert_eq!(root.created_at_ms, 1_700_000_000_123);
        assert!(root.id > alice.id);

        assert_eq!(store.user(alice.id).await.unwrap(), Some(alice.clone()));
        assert_eq!(
            store.user_by_username("root").await.unwrap(),
            Some(root.clone())
        );
        assert_eq!(
            store.user_by_username("ROOT").await.unwrap(),
            Some(root.clone()),
            "names are one whatever their case"
        );
        assert_eq!(store.user_by_username("rooted").await.unwrap(), None);
        assert_eq!(store.user(UserId(424_242)).await.unwrap(), None);
        assert_eq!(
            store.users().await.unwrap(),
            vec![alice.clone(), root.clone()]
        );

        assert_eq!(
            store.password_hash(alice.id).await.unwrap().as_deref(),
            Some("argon2-hash-of-alice")
        );
        assert_eq!(store.password_hash(root.id).await.unwrap(), None);
        assert!(matches!(
            store.password_hash(UserId(424_242)).await,
            Err(StoreError::NotFound { what: "user", .. })
        ));
    }

    async fn a_taken_email_or_username_is_a_duplicate(store: Store) {
        let alice = user(&store, "alice").await;
        let same_email = NewUser {
            email: alice.email.clone(),
            username: "alice2".to_owned(),
            ..admin()
        };
        match store.create_user(&same_email, 1).await {
            Err(StoreError::Duplicate { what, key }) => {
                assert_eq!(what, "user with email");
                assert_eq!(key, "alice@example.com");
            }
            other => panic!("expected a duplicate email, got {other:?}"),
        }
        let same_username = NewUser {
            username: "alice".to_owned(),
            ..admin()
        };
        match store.create_user(&same_username, 1).await {
            Err(
                error @ StoreError::Duplicate {
                    what: "user with username",
                    ..
                },
            ) => {
                assert_eq!(error.to_string(), "user with username alice already exists");
            }
            other => panic!("expected a duplicate username, got {other:?}"),
        }
        // Whatever the case: "Alice" is alice, and so is her email in capitals.
        let shouted = NewUser {
            email: "ALICE@Example.COM".to_owned(),
            username: "someone-else".to_owned(),
            ..admin()
        };
        assert!(matches!(
            store.create_user(&shouted, 1).await,
            Err(StoreError::Duplicate { what: "user with email", .. })
        ));
        let capitalised = NewUser {
            username: "Alice".to_owned(),
            ..admin()
        };
        assert!(matches!(
            store.create_user(&capitalised, 1).await,
            Err(StoreError::Duplicate { what: "user with username", .. })
        ));
        assert_eq!(store.user_by_username("ALICE").await.unwrap().map(|u| u.id), Some(alice.id));
        assert_eq!(count(&store, "users").await, 1);
        let empty = NewUser {
            email: " ".to_owned(),
            ..admin()
        };
        assert!(matches!(
            store.create_user(&empty, 1).await,
            Err(StoreError::InvalidValue { field: "email", .. })
        ));
    }

    async fn a_second_store_sees_the_first_ones_writes(db: &TestDatabase) {
        let alice = user(db.store(), "alice").await;
        let second = db.another_store().await;
        assert_eq!(second.backend(), db.store().backend());
        assert_eq!(second.user(alice.id).await.unwrap(), Some(alice));
        second.close().await;
    }
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let user = NewUser {
        password_hash: Some("argon2id$secret-hash".to_owned()),
        ..admin()
    };
    let shown = format!("{user:?}");
    assert!(!shown.contains("secret-hash"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}
