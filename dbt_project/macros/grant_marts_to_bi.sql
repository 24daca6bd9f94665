{#
  USAGE on `marts` and SELECT on every table in it for the BI role (MARKETPIPE_BI_USER), run as
  on-run-end. Skipped when the role or the schema does not exist (e.g. the docker-compose database,
  which has no BI role), so dbt never fails for want of it. Deliberately not dbt's `grants` config:
  that errors when the role is missing and revokes grants it did not make.
#}
{% macro grant_marts_to_bi() %}
    {%- set role = env_var('MARKETPIPE_BI_USER', 'marketpipe_bi') | replace("'", "''") -%}
    {%- set schema = generate_schema_name('marts', none) | replace("'", "''") -%}
    do $grant$
    begin
        if exists (select 1 from pg_roles where rolname = '{{ role }}')
           and exists (select 1 from pg_namespace where nspname = '{{ schema }}') then
            execute format('grant usage on schema %I to %I', '{{ schema }}', '{{ role }}');
            execute format('grant select on all tables in schema %I to %I', '{{ schema }}', '{{ role }}');
        end if;
    end
    $grant$
{% endmacro %}
