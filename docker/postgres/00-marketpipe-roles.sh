#!/bin/bash
# First start of an empty volume (docker-entrypoint-initdb.d): the pipeline role is NOT the superuser
# the image creates (docs/security.md). It owns the database and its public schema; the serving
# tables are created as that role by the `pipeline` one-shot (`marketpipe stack schema`), so the JDBC
# sinks, the Iceberg catalog and dbt write without superuser rights. The BI role is created by
# `marketpipe stack up` against this database.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v role="$MARKETPIPE_POSTGRES_USER" -v pw="$MARKETPIPE_POSTGRES_PASSWORD" <<'SQL'
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw';
SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), :'role') \gexec
ALTER SCHEMA public OWNER TO :"role";
REVOKE ALL ON DATABASE postgres, template1 FROM PUBLIC;
SQL
