-- Time series of steps, overall and per assistant and model:
--   from metrics_over_time('day'), or 'hour', 'week', 'month' (any date_trunc part)
-- and the views daily_metrics and hourly_metrics. `bucket` is the start of the period
-- (UTC) of the step's created_at. Latency percentiles over completed steps; failure
-- rates over terminal steps; tokens and cost from the steps' own usage.
create or replace macro metrics_over_time(unit) as table
    with bucketed as (
        select
            date_trunc(unit, created_at) as bucket,
            assistant_id, model, status, latency_s,
            prompt_tokens, completion_tokens, total_tokens, cost_usd
        from steps
        where created_at is not null
    ),

    grouped as (
        select
            grouping(assistant_id, model) as grouping_id,
            bucket, assistant_id, model,
            count(*) as steps,
            count(latency_s) filter (where status = 'completed') as completed_with_latency,
            quantile_cont(latency_s, 0.50) filter (where status = 'completed') as p50_s,
            quantile_cont(latency_s, 0.90) filter (where status = 'completed') as p90_s,
            quantile_cont(latency_s, 0.95) filter (where status = 'completed') as p95_s,
            quantile_cont(latency_s, 0.99) filter (where status = 'completed') as p99_s,
            count(*) filter (where is_terminal(status)) as terminal,
            count(*) filter (where status = 'failed') as failed,
            count(*) filter (where status = 'cancelled') as cancelled,
            count(*) filter (where status = 'expired') as expired,
            sum(prompt_tokens)::bigint as prompt_tokens,
            sum(completion_tokens)::bigint as completion_tokens,
            sum(total_tokens)::bigint as total_tokens,
            sum(cost_usd) as cost_usd,
            count(*) filter (where cost_usd is null
                             and (prompt_tokens is not null or completion_tokens is not null))
                as unpriced_steps
        from bucketed
        group by grouping sets ((bucket), (bucket, assistant_id), (bucket, model))
    ),

    final as (
        select
            case grouping_id when 3 then 'all' when 1 then 'assistant_id' when 2 then 'model'
            end as dimension,
            case grouping_id when 1 then assistant_id when 2 then model end as value,
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
