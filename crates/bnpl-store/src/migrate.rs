//! The migrations of both backends, embedded at build time (see build.rs).

use std::borrow::Cow;

use sqlx::AssertSqlSafe;
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

pub(crate) fn sqlite() -> Migrator {
    migrator(embedded::SQLITE)
}

pub(crate) fn postgres() -> Migrator {
    migrator(embedded::POSTGRES)
}

fn migrator(files: &[(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = files
        .iter()
        .map(|&(version, description, sql)| {
            // The checksum sqlx records is over the text: a checkout with CRLF
            // line ends must not look like an edited migration.
            let sql = sql.replace("\r\n", "\n");
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                AssertSqlSafe(sql).into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_backends_have_the_same_migration_versions() {
        let versions = |files: &[(i64, &str, &str)]| files.iter().map(|f| f.0).collect::<Vec<_>>();
        assert_eq!(
            versions(super::embedded::SQLITE),
            versions(super::embedded::POSTGRES)
        );
        assert!(!super::embedded::SQLITE.is_empty());
    }
}
