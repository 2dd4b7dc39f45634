//! Shared secrets generated once and kept in PostgreSQL.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::pool::Db;
use super::schema::app_secrets;
use crate::store::StoreError;

/// The secret called `name`, created from `generate` if no instance has created it yet.
/// Safe under concurrent first starts: the first insert wins and everyone reads it back.
pub async fn get_or_create(
    db: &Db,
    name: &str,
    generate: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, StoreError> {
    let mut conn = db.conn().await?;
    db.timed(
        diesel::insert_into(app_secrets::table)
            .values((
                app_secrets::name.eq(name),
                app_secrets::value.eq(generate()),
            ))
            .on_conflict_do_nothing()
            .execute(&mut conn),
    )
    .await?;
    db.timed(
        app_secrets::table
            .filter(app_secrets::name.eq(name))
            .select(app_secrets::value)
            .first(&mut conn),
    )
    .await
}
