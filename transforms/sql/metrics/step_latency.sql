-- step_latency: latency of completed steps, overall and by assistant, model, day, type and
-- api (Responses API items carry no times: they have no latency).
-- `day` is grouped as a DATE and formatted after aggregation (at 5 million steps that
-- halves the time: by_dimension); the aggregates are latency_stats, shared with
-- step_latency_by.
create or replace view step_latency as
with completed as (
    select assistant_id, model, day, type, api, latency_s
    from steps
    where status = 'completed' and latency_s is not null
),

final as (
    select * from by_dimension('completed', latency_stats(latency_s))
)

select * from final order by dimension, value;
