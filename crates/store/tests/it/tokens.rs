//! Tokens on both engines: shown once, stored hashed, revocable.

use store::Role;

use crate::engines;

#[tokio::test]
async fn create_verify_revoke() {
    for s in engines("tokens").await {
        let (id, secret) = s
            .token_create(Role::Regulator, "central bank", 1_000)
            .await
            .unwrap();
        assert!(secret.starts_with("ugt_") && secret.len() > 60);
        assert_eq!(
            s.token_verify(&secret).await.unwrap(),
            Some((id.clone(), Role::Regulator))
        );
        assert_eq!(s.token_verify("ugt_wrong").await.unwrap(), None);
        // Only the hash is stored.
        let stored: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM api_tokens")
            .fetch_all(s.pool())
            .await
            .unwrap();
        assert!(
            stored
                .iter()
                .all(|(h,)| h.len() == 64 && !h.contains(&secret))
        );
        let list = s.token_list().await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].label, "central bank");
        assert!(s.token_revoke(&id, 2_000).await.unwrap());
        assert!(!s.token_revoke(&id, 3_000).await.unwrap());
        assert_eq!(s.token_verify(&secret).await.unwrap(), None);
        assert_eq!(s.token_list().await.unwrap()[0].revoked_at_ms, Some(2_000));
        s.close().await;
    }
}
