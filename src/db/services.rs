//! Catalog queries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

use super::pool::{Db, query_error};
use super::schema::services;
use crate::catalog::{CatalogEntry, ServicePatch, ServiceSpec};
use crate::domain::ProblemKind;
pub use crate::domain::Service;
use crate::store::StoreError;

/// A catalog row as stored (PostgreSQL arrays may hold NULLs; ours never do).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = services)]
struct ServiceRow {
    id: Uuid,
    slug: String,
    name: String,
    category: String,
    provider: String,
    problems: Vec<Option<String>>,
    archived: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    status_page: Option<String>,
    provider_name: Option<String>,
}

impl From<ServiceRow> for Service {
    fn from(row: ServiceRow) -> Self {
        Self {
            id: row.id,
            slug: row.slug,
            name: row.name,
            category: row.category,
            provider: row.provider,
            problems: row.problems.into_iter().flatten().collect(),
            archived: row.archived,
            created_at: row.created_at,
            updated_at: row.updated_at,
            status_page: row.status_page,
            provider_name: row.provider_name,
        }
    }
}

/// Whether `service` is already as `spec` defines it.
fn matches(service: &Service, spec: &ServiceSpec) -> bool {
    service.name == spec.name.as_str()
        && service.category == spec.category.as_str()
        && service.provider == spec.provider.as_str()
        && service.problems == problem_strings(&spec.problems)
        && service.status_page.as_deref() == spec.status_page.as_deref()
        && service.provider_name.as_deref() == spec.provider_name.as_ref().map(|n| n.as_str())
}

fn problem_strings(kinds: &[ProblemKind]) -> Vec<String> {
    kinds.iter().map(|k| k.as_str().to_owned()).collect()
}

/// Filters for listing services.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// Include archived services.
    pub include_archived: bool,
    /// Only this category.
    pub category: Option<String>,
    /// Only this provider.
    pub provider: Option<String>,
}

/// Services matching `filter`, by slug.
pub async fn list(db: &Db, filter: &ListFilter) -> Result<Vec<Service>, StoreError> {
    let mut conn = db.conn().await?;
    let mut query = services::table
        .select(ServiceRow::as_select())
        .order(services::slug)
        .into_boxed();
    if !filter.include_archived {
        query = query.filter(services::archived.eq(false));
    }
    if let Some(category) = &filter.category {
        query = query.filter(services::category.eq(category.clone()));
    }
    if let Some(provider) = &filter.provider {
        query = query.filter(services::provider.eq(provider.clone()));
    }
    let rows: Vec<ServiceRow> = db.timed(query.load(&mut conn)).await?;
    Ok(rows.into_iter().map(Service::from).collect())
}

/// The service with `slug`, archived or not.
pub async fn find(db: &Db, slug: &str) -> Result<Option<Service>, StoreError> {
    let mut conn = db.conn().await?;
    let query = services::table
        .filter(services::slug.eq(slug))
        .select(ServiceRow::as_select());
    let row: Option<ServiceRow> = db
        .timed(async { query.first(&mut conn).await.optional() })
        .await?;
    Ok(row.map(Service::from))
}

/// Why a service could not be added.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The slug belongs to another service (archived services keep their slug).
    #[error("slug {0:?} is taken")]
    SlugTaken(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Adds a service, unless its slug is taken.
pub async fn create(
    db: &Db,
    spec: &ServiceSpec,
    now: DateTime<Utc>,
) -> Result<Service, CreateError> {
    let mut conn = db.conn().await?;
    match db.deadline(insert(&mut conn, spec, now)).await? {
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Err(CreateError::SlugTaken(spec.slug.as_str().to_owned()))
        }
        other => Ok(other.map_err(query_error)?),
    }
}

/// A new catalog row.
#[derive(Insertable)]
#[diesel(table_name = services)]
struct NewRow<'a> {
    id: Uuid,
    slug: &'a str,
    name: &'a str,
    category: &'a str,
    provider: &'a str,
    problems: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    status_page: Option<&'a str>,
    provider_name: Option<&'a str>,
}

impl<'a> NewRow<'a> {
    fn of(spec: &'a ServiceSpec, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::now_v7(),
            slug: spec.slug.as_str(),
            name: spec.name.as_str(),
            category: spec.category.as_str(),
            provider: spec.provider.as_str(),
            problems: problem_strings(&spec.problems),
            created_at: now,
            updated_at: now,
            status_page: spec.status_page.as_deref(),
            provider_name: spec.provider_name.as_ref().map(|n| n.as_str()),
        }
    }
}

async fn insert(
    conn: &mut diesel_async::AsyncPgConnection,
    spec: &ServiceSpec,
    now: DateTime<Utc>,
) -> QueryResult<Service> {
    diesel::insert_into(services::table)
        .values(NewRow::of(spec, now))
        .returning(ServiceRow::as_returning())
        .get_result::<ServiceRow>(conn)
        .await
        .map(Service::from)
}

/// Inserts a service unless its slug exists; true if it was inserted.
async fn insert_if_absent(
    conn: &mut diesel_async::AsyncPgConnection,
    spec: &ServiceSpec,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let rows = diesel::insert_into(services::table)
        .values(NewRow::of(spec, now))
        .on_conflict(services::slug)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(rows == 1)
}

/// Applies `patch` to the service with `slug`; `None` if there is no such service.
pub async fn update(
    db: &Db,
    slug: &str,
    patch: &ServicePatch,
    now: DateTime<Utc>,
) -> Result<Option<Service>, StoreError> {
    #[derive(AsChangeset)]
    #[diesel(table_name = services)]
    struct Changes<'a> {
        name: Option<&'a str>,
        category: Option<&'a str>,
        provider: Option<&'a str>,
        problems: Option<Vec<String>>,
        archived: Option<bool>,
        updated_at: DateTime<Utc>,
        // `Some(None)` clears them.
        status_page: Option<Option<&'a str>>,
        provider_name: Option<Option<&'a str>>,
    }
    let changes = Changes {
        name: patch.name.as_ref().map(|n| n.as_str()),
        category: patch.category.as_ref().map(|c| c.as_str()),
        provider: patch.provider.as_ref().map(|p| p.as_str()),
        problems: patch.problems.as_deref().map(problem_strings),
        archived: patch.archived,
        updated_at: now,
        status_page: patch.status_page.as_ref().map(|p| p.as_deref()),
        provider_name: patch
            .provider_name
            .as_ref()
            .map(|n| n.as_ref().map(|n| n.as_str())),
    };
    let mut conn = db.conn().await?;
    let query = diesel::update(services::table.filter(services::slug.eq(slug)))
        .set(changes)
        .returning(ServiceRow::as_returning());
    let row: Option<ServiceRow> = db
        .timed(async { query.get_result(&mut conn).await.optional() })
        .await?;
    Ok(row.map(Service::from))
}

/// How an import changed the catalog.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    /// New services.
    pub inserted: usize,
    /// Services whose definition changed.
    pub updated: usize,
    /// Services already as defined.
    pub unchanged: usize,
}

/// Upserts `specs` by slug in one transaction; running it twice changes nothing the second time.
/// The archived flag is left as it is.
pub async fn import(
    db: &Db,
    specs: &[ServiceSpec],
    now: DateTime<Utc>,
) -> Result<ImportSummary, StoreError> {
    let mut pooled = db.conn().await?;
    let conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
    let work = conn.transaction::<_, DieselError, _>(async |conn| {
        let mut summary = ImportSummary::default();
        for spec in specs {
            let existing: Option<ServiceRow> = services::table
                .filter(services::slug.eq(spec.slug.as_str()))
                .select(ServiceRow::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()?;
            match existing {
                // Another instance seeding at the same time may win the race for a slug: the
                // row is then theirs, with the same definition.
                None if insert_if_absent(conn, spec, now).await? => summary.inserted += 1,
                None => summary.unchanged += 1,
                Some(row) if matches(&Service::from(row.clone()), spec) => summary.unchanged += 1,
                Some(row) => {
                    diesel::update(services::table.find(row.id))
                        .set((
                            services::name.eq(spec.name.as_str()),
                            services::category.eq(spec.category.as_str()),
                            services::provider.eq(spec.provider.as_str()),
                            services::problems.eq(problem_strings(&spec.problems)),
                            services::status_page.eq(spec.status_page.as_deref()),
                            services::provider_name
                                .eq(spec.provider_name.as_ref().map(|n| n.as_str())),
                            services::updated_at.eq(now),
                        ))
                        .execute(conn)
                        .await?;
                    summary.updated += 1;
                }
            }
        }
        Ok(summary)
    });
    db.timed(work).await
}

/// Number of services, archived included.
pub async fn count(db: &Db) -> Result<i64, StoreError> {
    let mut conn = db.conn().await?;
    db.timed(services::table.count().get_result(&mut conn))
        .await
}

/// Every service as the report path sees it.
pub async fn catalog_entries(db: &Db) -> Result<Vec<CatalogEntry>, StoreError> {
    let all = list(
        db,
        &ListFilter {
            include_archived: true,
            ..Default::default()
        },
    )
    .await?;
    Ok(all.iter().filter_map(CatalogEntry::of).collect())
}
