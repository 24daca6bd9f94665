-- Indicators on each one-minute bar (the streaming job); the select is macros/stg_indicators.sql.
{{ stg_indicators('1m') }}
