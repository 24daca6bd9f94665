{#- The staging select of one indicators_<timeframe> serving table (stg_indicators_1m, stg_indicators_1d):
    the tables share their columns (udfs/schema.py), so the models share this one select. -#}
{% macro stg_indicators(timeframe) %}
select
    symbol::text                    as symbol,
    bar_start::timestamptz          as bar_start,
    close::double precision         as close_price,
    volume::bigint                  as volume,
    ema_12::double precision        as ema_12,
    ema_26::double precision        as ema_26,
    rsi_14::double precision        as rsi_14,
    macd::double precision          as macd,
    macd_signal::double precision   as macd_signal,
    macd_hist::double precision     as macd_hist,
    sma_20::double precision        as sma_20,
    bb_middle::double precision     as bb_middle,
    bb_upper::double precision      as bb_upper,
    bb_lower::double precision      as bb_lower,
    atr_14::double precision        as atr_14,
    stoch_k::double precision       as stoch_k,
    stoch_d::double precision       as stoch_d,
    vwap_session::double precision  as vwap_session,
    volume_sma_20::double precision as volume_sma_20,
    is_warm::boolean                as is_warm
from {{ source('serving', 'indicators_' ~ timeframe) }}
{% endmacro %}
