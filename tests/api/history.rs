//! History partitioned by month: the migration moves bins without changing a curve, writes land
//! in their month, and old months drop whole.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use diesel::RunQueryDsl;
use diesel::sql_types::Text;
use diesel_migrations::MigrationHarness;
use downwatch::db::bins::{self, BinCounts};
use downwatch::db::bootstrap::{MIGRATIONS, with_sync_connection};

use crate::helpers::TestApp;

const PARTITIONING: &str = "20261203000002";

#[derive(diesel::QueryableByName)]
struct Placement {
    #[diesel(sql_type = Text)]
    partition: String,
}

/// Which partition holds each of the service's bins, oldest first.
async fn placements(url: &str) -> Vec<String> {
    with_sync_connection(url, |conn| {
        let rows: Vec<Placement> = diesel::sql_query(
            "SELECT tableoid::regclass::text AS partition FROM report_bins ORDER BY bin_start",
        )
        .load(conn)?;
        Ok(rows.into_iter().map(|r| r.partition).collect())
    })
    .await
    .unwrap()
}

fn bin(service_id: uuid::Uuid, at: DateTime<Utc>, total: i32) -> BinCounts {
    BinCounts {
        service_id,
        bin_start: at,
        total,
        problems: BTreeMap::from([("login".to_owned(), total)]),
        countries: BTreeMap::new(),
    }
}

#[actix_web::test]
async fn a_curve_across_a_month_boundary_is_the_same_before_and_after_partitioning() {
    let end_of_january = Utc.with_ymd_and_hms(2025, 1, 31, 22, 0, 0).unwrap();
    let app = TestApp::builder()
        .var("DOWNWATCH_READ_CACHE_MS", "0")
        .start_at(end_of_january + TimeDelta::days(3))
        .spawn()
        .await;
    let url = app.settings.database_url.clone();
    // Back to one table: revert migrations down to (and including) the partitioning.
    with_sync_connection(&url, |conn| {
        loop {
            let reverted = conn
                .revert_last_migration(MIGRATIONS)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if reverted.to_string() == PARTITIONING {
                return Ok(());
            }
        }
    })
    .await
    .unwrap();
    let chatgpt = app.state.reads.catalog.get("chatgpt").unwrap().id;
    let history: Vec<BinCounts> = (0..16)
        .map(|i| {
            bin(
                chatgpt,
                end_of_january + TimeDelta::minutes(15 * i),
                10 + i32::try_from(i).unwrap(),
            )
        })
        .collect();
    bins::upsert(&app.state.reads.db, &history).await.unwrap();
    let curve =
        "/v1/services/chatgpt/curve?from=2025-01-31T20:00:00Z&to=2025-02-01T04:00:00Z&step=1h";
    // Curves read columns added after the partitioning: the curve before is that of the same
    // bins in a database that was always partitioned.
    let always = TestApp::builder()
        .start_at(end_of_january + TimeDelta::days(3))
        .spawn()
        .await;
    let always_chatgpt = always.state.reads.catalog.get("chatgpt").unwrap().id;
    let same: Vec<BinCounts> = history
        .iter()
        .map(|b| BinCounts {
            service_id: always_chatgpt,
            ..b.clone()
        })
        .collect();
    bins::upsert(&always.state.reads.db, &same).await.unwrap();
    let before = always.get(curve).await;
    assert_eq!(before.status, 200, "{}", before.text);
    assert_eq!(placements(&url).await, vec!["report_bins".to_owned(); 16]);

    with_sync_connection(&url, |conn| {
        conn.run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    })
    .await
    .unwrap();
    let after = app.get(curve).await;
    assert_eq!(
        after.json["points"], before.json["points"],
        "the same curve"
    );
    let partitions = placements(&url).await;
    assert_eq!(
        partitions[..8],
        vec!["report_bins_y2025m01".to_owned(); 8][..]
    );
    assert_eq!(
        partitions[8..],
        vec!["report_bins_y2025m02".to_owned(); 8][..]
    );

    // Writes land in their month, a month without a partition in the default one, and old
    // months drop whole.
    bins::upsert(
        &app.state.reads.db,
        &[bin(
            chatgpt,
            Utc.with_ymd_and_hms(2020, 5, 1, 0, 0, 0).unwrap(),
            3,
        )],
    )
    .await
    .unwrap();
    assert_eq!(placements(&url).await[0], "report_bins_default");
    let dropped = bins::drop_history_before(
        &app.state.reads.db,
        Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(dropped, 1);
    assert_eq!(
        placements(&url).await,
        vec!["report_bins_y2025m02".to_owned(); 8]
    );
    let created = bins::ensure_partitions(
        &app.state.reads.db,
        Utc.with_ymd_and_hms(2025, 1, 15, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(created, 2, "January again, and March (February exists)");
    let later = app.get(curve).await;
    let reports: Vec<f64> = later.json["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reports"].as_f64().unwrap())
        .collect();
    // 20:00-23:00 were January's (gone); 00:00 and 01:00 hold February's bins 18-21 and 22-25.
    assert_eq!(
        reports,
        [0.0, 0.0, 0.0, 0.0, 78.0, 94.0, 0.0, 0.0],
        "January is gone"
    );
}
