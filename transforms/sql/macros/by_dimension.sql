-- by_dimension(relation, aggregates): a metric over the rows of `relation` (a view, or a
-- CTE of the calling view, by name: it has assistant_id, model, day, type and api),
-- overall and by each of those, one row per (dimension, value): the struct `aggregates`
-- (outcome_stats(status), latency_stats(latency_s), ...) expanded into columns.
--   from by_dimension('steps', outcome_stats(status))
-- `day` may be a DATE (grouping dates is faster than grouping text at millions of rows):
-- it is formatted 'YYYY-MM-DD' after aggregation.
create or replace macro by_dimension(relation, aggregates) as table
    with final as (
        select
            dimension_name(grouping(assistant_id, model, day, type, api)) as dimension,
            dimension_value(grouping(assistant_id, model, day, type, api),
                            assistant_id, model, day::varchar, type, api) as value,
            unnest(aggregates)
        from query_table(relation)
        group by grouping sets ((), (assistant_id), (model), (day), (type), (api))
    )

    select * from final;
