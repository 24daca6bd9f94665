{#
  Use a model's custom schema as is (`staging`, `marts`), not dbt's default `<target schema>_<custom>`
  (`analytics_marts`). The schema names are an interface: the BI role is granted `marts` by name
  (marketpipe/stack/postgres.py) and dashboards query `marts.<model>`. Models without a custom schema
  land in the profile's schema (MARKETPIPE_DBT_SCHEMA, default `analytics`).
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
