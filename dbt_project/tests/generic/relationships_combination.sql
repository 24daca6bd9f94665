{#
  Every combination of `columns` in the model exists as `to_columns` in `to`: dbt's `relationships`
  over a composite key (a signal belongs to one bar: symbol, timeframe and bar_start together).
  Rows with a NULL in `columns` are not checked, as in `relationships`.
#}
{% test relationships_combination(model, columns, to, to_columns) %}

select {% for c in columns %}child.{{ c }}{% if not loop.last %}, {% endif %}{% endfor %}
from {{ model }} as child
where {% for c in columns %}child.{{ c }} is not null{% if not loop.last %} and {% endif %}{% endfor %}
  and not exists (
    select 1
    from {{ to }} as parent
    where {% for i in range(columns | length) -%}
        parent.{{ to_columns[i] }} = child.{{ columns[i] }}{% if not loop.last %} and {% endif %}
    {%- endfor %}
)

{% endtest %}
