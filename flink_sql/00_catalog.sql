-- @jobs: bars, indicators, backfill, backfill-ticks
-- ============================================================================================
-- 00 · The Iceberg lake
-- A JDBC catalog kept in the stack's PostgreSQL (tables iceberg_tables / iceberg_namespace_properties),
-- data and metadata files in a local file:// warehouse. The catalog name must equal the name pyiceberg's
-- SqlCatalog uses, because catalog rows are keyed by it.
-- Iceberg tables are append-only (pyiceberg cannot read equality deletes); commits happen on checkpoints.
-- ============================================================================================

CREATE CATALOG {{iceberg_catalog}} WITH (
    'type'          = 'iceberg',
    'catalog-impl'  = 'org.apache.iceberg.jdbc.JdbcCatalog',
    'uri'           = '{{jdbc_url}}',
    'jdbc.user'     = '{{postgres_user}}',
    'jdbc.password' = '{{postgres_password}}',
    'warehouse'     = '{{warehouse_uri}}'
);

CREATE DATABASE IF NOT EXISTS {{iceberg_catalog}}.bronze;
CREATE DATABASE IF NOT EXISTS {{iceberg_catalog}}.silver;
CREATE DATABASE IF NOT EXISTS {{iceberg_catalog}}.gold;
