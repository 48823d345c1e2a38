//! Login sessions on both backends: created live until their expiry, resolved to their user only
//! while live, revoked once, purged long after they ended, and refused for a missing user, a
//! reused hash or a bad ttl.

use store::{StoreError, UserId};

use crate::common::user;

store::backend_tests! {
    async fn a_session_resolves_to_its_user_until_it_expires(store: Store) {
        let alice = user(&store, "alice").await;
        let session = store.create_session(alice.id, "hash-a", 10_000, 500).await.unwrap();
        assert_eq!(session.user_id, alice.id);
        assert_eq!((session.created_at_ms, session.expires_at_ms), (10_000, 10_500));
        assert_eq!(
            store.session_user("hash-a", 10_499).await.unwrap(),
            Some((session.id, alice.clone()))
        );
        assert_eq!(store.session_user("hash-a", 10_500).await.unwrap(), None, "expired");
        assert_eq!(store.session_user("hash-b", 10_000).await.unwrap(), None, "unknown");
    }

    async fn a_revoked_session_no_longer_resolves(store: Store) {
        let alice = user(&store, "alice").await;
        store.create_session(alice.id, "hash-a", 10_000, 500).await.unwrap();
        store.create_session(alice.id, "hash-b", 10_000, 500).await.unwrap();
        assert!(store.revoke_session("hash-a", 10_100).await.unwrap());
        assert!(!store.revoke_session("hash-a", 10_200).await.unwrap(), "only once");
        assert!(!store.revoke_session("hash-z", 10_200).await.unwrap(), "unknown");
        assert_eq!(store.session_user("hash-a", 10_300).await.unwrap(), None);
        assert!(store.session_user("hash-b", 10_300).await.unwrap().is_some(), "others live on");
    }

    async fn bad_sessions_are_refused(store: Store) {
        let alice = user(&store, "alice").await;
        store.create_session(alice.id, "hash-a", 10_000, 500).await.unwrap();
        assert!(matches!(
            store.create_session(alice.id, "hash-a", 10_000, 500).await,
            Err(StoreError::Duplicate { .. })
        ));
        assert!(matches!(
            store.create_session(UserId(999), "hash-b", 10_000, 500).await,
            Err(StoreError::NotFound { what: "user", .. })
        ));
        for (hash, ttl) in [("", 500), ("hash-c", 0), ("hash-c", -1), ("hash-c", i64::MAX)] {
            assert!(
                matches!(
                    store.create_session(alice.id, hash, 10_000, ttl).await,
                    Err(StoreError::InvalidValue { .. })
                ),
                "{hash:?} {ttl}"
            );
        }
    }

    async fn sessions_that_ended_long_ago_are_purged(store: Store) {
        let alice = user(&store, "alice").await;
        store.create_session(alice.id, "old", 1_000, 500).await.unwrap();
        store.create_session(alice.id, "old-revoked", 1_000, 900).await.unwrap();
        store.revoke_session("old-revoked", 1_100).await.unwrap();
        store.create_session(alice.id, "recent", 1_000, 5_000).await.unwrap();
        store.create_session(alice.id, "live", 9_000, 5_000).await.unwrap();
        // Ended before 2,000: the first two; the recently expired one stays as history.
        assert_eq!(store.purge_sessions(2_000).await.unwrap(), 2);
        assert_eq!(store.purge_sessions(2_000).await.unwrap(), 0);
        assert!(!store.revoke_session("old-revoked", 3_000).await.unwrap(), "gone");
        assert!(store.revoke_session("recent", 10_000).await.unwrap(), "kept");
        assert!(store.session_user("live", 10_000).await.unwrap().is_some());
    }
}
