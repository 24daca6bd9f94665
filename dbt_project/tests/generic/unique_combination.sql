{#
  Fails for every combination of `columns` that occurs more than once in the model.
  A local stand-in for dbt_utils.unique_combination_of_columns: dbt deps cannot reach the hub here.
#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
