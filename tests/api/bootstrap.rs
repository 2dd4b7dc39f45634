//! Starting up: database creation, migrations, catalog seeding and import, shared secrets.

use chrono::Utc;
use diesel_migrations::MigrationHarness;
use downwatch::catalog::{CatalogFile, SHIPPED_CATALOG};
use downwatch::db::bootstrap::{MIGRATIONS, with_sync_connection};
use downwatch::db::services;
use serde_json::json;

use crate::helpers::TestApp;

#[actix_web::test]
async fn migrations_run_down_and_up_again() {
    let app = TestApp::spawn().await;
    let url = app.settings.database_url.clone();
    let reapplied = with_sync_connection(&url, |conn| {
        conn.revert_all_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(applied.len())
    })
    .await
    .unwrap();
    assert_eq!(reapplied, migration_directories());
}

/// Every migration shipped in `migrations/`, so a new one is covered without editing this test.
fn migration_directories() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().join("up.sql").exists())
        .count()
}

#[actix_web::test]
async fn importing_a_catalog_twice_changes_nothing_the_second_time() {
    let app = TestApp::spawn().await;
    let file = CatalogFile::parse(SHIPPED_CATALOG).unwrap();
    let summary = services::import(&app.state.reads.db, &file.services, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        summary.inserted + summary.updated,
        0,
        "the seed already holds the shipped catalog"
    );
    assert_eq!(summary.unchanged, file.services.len());

    let edited = SHIPPED_CATALOG.replace("name = \"Sora\"", "name = \"Sora 2\"")
        + "\n[[service]]\nslug = \"bluesky\"\nname = \"Bluesky\"\ncategory = \"social\"\n";
    let file = CatalogFile::parse(&edited).unwrap();
    let first = services::import(&app.state.reads.db, &file.services, Utc::now())
        .await
        .unwrap();
    assert_eq!((first.inserted, first.updated), (1, 1));
    let second = services::import(&app.state.reads.db, &file.services, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        (second.inserted, second.updated, second.unchanged),
        (0, 0, file.services.len())
    );
    // A running instance serves the catalog from memory and picks up an import at its next
    // refresh (every DOWNWATCH_CATALOG_REFRESH_SECONDS); run that refresh now.
    app.state.refresh_catalog().await.unwrap();
    assert_eq!(app.get("/v1/services/sora").await.json["name"], "Sora 2");
}

#[actix_web::test]
async fn instances_on_one_database_share_the_reporter_secret_and_seed_once() {
    let first = TestApp::spawn().await;
    let renamed = first
        .admin(
            "PATCH",
            "/v1/services/chatgpt",
            &json!({"name": "ChatGPT (renamed)"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    let second = TestApp::builder().database(&first.db_name).spawn().await;
    let chatgpt = second.get("/v1/services/chatgpt").await;
    assert_eq!(
        chatgpt.json["name"], "ChatGPT (renamed)",
        "a catalog that is not empty is not seeded again"
    );

    // Both instances count into one Redis prefix: a reporter counted by one is a duplicate on the other.
    let shared_prefix = first.prefix.clone();
    let third = TestApp::builder()
        .database(&first.db_name)
        .var("DOWNWATCH_REDIS_PREFIX", &shared_prefix)
        .spawn()
        .await;
    let body = json!({"service": "chatgpt", "problem": "login", "reporter": "roaming-user-1"});
    assert_eq!(first.report(body.clone()).await.status, 202);
    let on_other = third.report(body).await;
    assert_eq!(
        on_other.status, 200,
        "same secret, same reporter key: {}",
        on_other.text
    );
}
