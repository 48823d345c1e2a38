//! Users and their exchange credentials.

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
        assert_eq!(store.user_by_username("ROOT").await.unwrap(), None);
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

    async fn credentials_are_put_replaced_read_and_deleted(store: Store) {
        let alice = user(&store, "alice").await;
        let bob = user(&store, "bob").await;
        assert_eq!(store.credentials(alice.id).await.unwrap(), None);

        let every_byte: Vec<u8> = (0..=255).collect();
        store
            .put_credentials(alice.id, "key-1", &every_byte, 10)
            .await
            .unwrap();
        let stored = store.credentials(alice.id).await.unwrap().unwrap();
        assert_eq!(stored.user_id, alice.id);
        assert_eq!(stored.api_key, "key-1");
        assert_eq!(stored.secret_ciphertext, every_byte);
        assert_eq!(stored.updated_at_ms, 10);

        store
            .put_credentials(alice.id, "key-2", &[0, 0, 7], 20)
            .await
            .unwrap();
        store
            .put_credentials(bob.id, "bob-key", b"", 30)
            .await
            .unwrap();
        let stored = store.credentials(alice.id).await.unwrap().unwrap();
        assert_eq!(
            (
                stored.api_key.as_str(),
                stored.secret_ciphertext.as_slice(),
                stored.updated_at_ms
            ),
            ("key-2", &[0u8, 0, 7][..], 20)
        );
        assert_eq!(count(&store, "exchange_credentials").await, 2);

        assert!(store.delete_credentials(alice.id).await.unwrap());
        assert!(!store.delete_credentials(alice.id).await.unwrap());
        assert_eq!(store.credentials(alice.id).await.unwrap(), None);
        assert_eq!(
            store.credentials(bob.id).await.unwrap().unwrap().api_key,
            "bob-key"
        );

        assert!(matches!(
            store.put_credentials(UserId(424_242), "k", b"x", 1).await,
            Err(StoreError::NotFound { what: "user", .. })
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

    let credentials = store::StoredCredentials {
        user_id: UserId(1),
        api_key: "key".to_owned(),
        secret_ciphertext: b"ciphertext-bytes".to_vec(),
        updated_at_ms: 0,
    };
    let shown = format!("{credentials:?}");
    assert!(!shown.contains("99, 105"), "{shown}");
    assert!(shown.contains("<16 bytes>"), "{shown}");
}
