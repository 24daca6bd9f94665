{#- The OHLCV columns of a bar table in staging (stg_bars, stg_daily_bars): prices renamed *_price
    (`close` never clashes with SQL or BI tool keywords), volume in shares. No trailing comma. -#}
{% macro stg_ohlcv() -%}
    open::double precision          as open_price,
    high::double precision          as high_price,
    low::double precision           as low_price,
    close::double precision         as close_price,
    volume::bigint                  as volume
{%- endmacro %}
