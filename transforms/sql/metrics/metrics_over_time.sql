-- Time series of steps, overall and per assistant, model and api:
--   from metrics_over_time('day'), or 'hour', 'week', 'month' (any date_trunc part)
-- and the views daily_metrics and hourly_metrics. `bucket` is the start of the period
-- (UTC) of the step's created_at. Latency percentiles over completed steps; failure
-- rates over terminal steps; tokens and cost from the usage that was reported: an
-- Assistants step's own, a Responses API response's own (at its created_at: its items
-- carry none), so a period's cost covers both APIs. `unpriced_steps` counts those
-- usage records (steps, responses) that have usage but no price.
create or replace macro metrics_over_time(unit) as table
    with step_rows as (
        select
            date_trunc(unit, created_at) as bucket,
            assistant_id, model, api, status, latency_s,
            prompt_tokens, completion_tokens, total_tokens, cost_usd,
            true as is_step
        from steps
        where created_at is not null
    ),

    response_usage as (
        select
            date_trunc(unit, created_at) as bucket,
            assistant_id, model, api, null::varchar as status, null::double as latency_s,
            prompt_tokens, completion_tokens, total_tokens, cost_usd,
            false as is_step
        from runs
        where api = 'responses' and created_at is not null
    ),

    bucketed as (
        select
            *,
            case when status = 'completed' then latency_s end as completed_latency_s
        from (from step_rows union all by name from response_usage)
    ),

    grouped as (
        select
            grouping(assistant_id, model, api) as grouping_id,
            bucket, assistant_id, model, api,
            count(*) filter (where is_step) as steps,
            count(completed_latency_s) as completed_with_latency,
            p50(completed_latency_s) as p50_s,
            p90(completed_latency_s) as p90_s,
            p95(completed_latency_s) as p95_s,
            p99(completed_latency_s) as p99_s,
            count(*) filter (where is_terminal(status)) as terminal,
            count(*) filter (where status = 'failed') as failed,
            count(*) filter (where status = 'cancelled') as cancelled,
            count(*) filter (where status = 'expired') as expired,
            try_cast(sum(prompt_tokens) as bigint) as prompt_tokens,
            try_cast(sum(completion_tokens) as bigint) as completion_tokens,
            try_cast(sum(total_tokens) as bigint) as total_tokens,
            sum(cost_usd) as cost_usd,
            count(*) filter (where cost_usd is null
                             and (prompt_tokens is not null or completion_tokens is not null))
                as unpriced_steps
        from bucketed
        group by grouping sets ((bucket), (bucket, assistant_id), (bucket, model), (bucket, api))
    ),

    final as (
        select
            grouped_dimension(grouping_id, ['assistant_id', 'model', 'api']) as dimension,
            grouped_value(grouping_id, [assistant_id, model, api]) as value,
            bucket,
            steps,
            completed_with_latency,
            p50_s, p90_s, p95_s, p99_s,
            terminal,
            failed,
            failed / nullif(terminal, 0) as failure_rate,
            cancelled / nullif(terminal, 0) as cancelled_rate,
            expired / nullif(terminal, 0) as expired_rate,
            prompt_tokens, completion_tokens, total_tokens,
            cost_usd,
            unpriced_steps
        from grouped
    )

    select * from final order by dimension, value, bucket;
