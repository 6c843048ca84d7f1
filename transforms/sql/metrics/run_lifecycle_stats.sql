-- run_lifecycle_stats: distribution of each run_lifecycle measure over runs in a
-- terminal state (completed, incomplete, failed, cancelled, expired), overall and by
-- assistant, model, day and api. One row per (dimension, value, measure); NULL measures are
-- left out, so `n` is the number of runs that have it. Percentiles are continuous.
create or replace view run_lifecycle_stats as
with terminal_runs as (
    select
        assistant_id, model, strftime(day, '%Y-%m-%d') as day, api,
        queue_s, duration_s,
        steps::double as steps,
        tool_calls::double as tool_calls,
        tool_round_trips::double as tool_round_trips,
        steps_s, tool_calls_s, message_creation_s, gap_s, tool_wait_s
    from run_lifecycle
    where is_run_terminal(status)
),

measures as (
    unpivot terminal_runs
    on queue_s, duration_s, steps, tool_calls, tool_round_trips, steps_s, tool_calls_s,
       message_creation_s, gap_s, tool_wait_s
    into name measure value amount
),

grouped as (
    select
        grouping(assistant_id, model, day, api) as grouping_id,
        assistant_id, model, day, api, measure,
        count(*) as n,
        avg(amount) as mean,
        p50(amount) as p50,
        p90(amount) as p90,
        p95(amount) as p95,
        p99(amount) as p99,
        max(amount) as max
    from measures
    group by grouping sets ((measure), (assistant_id, measure), (model, measure),
                            (day, measure), (api, measure))
),

final as (
    select
        grouped_dimension(grouping_id, ['assistant_id', 'model', 'day', 'api']) as dimension,
        grouped_value(grouping_id, [assistant_id, model, day, api]) as value,
        measure, n, mean, p50, p90, p95, p99, max
    from grouped
)

select * from final order by dimension, value, measure;
