-- Building blocks for ad-hoc SQL. Percentiles are continuous (linear interpolation).
--   select metadata->>'tenant' as tenant, p95(latency_s) from steps group by all;
--   from step_latency_by(metadata->>'tenant');

create or replace macro p50(x) as quantile_cont(x, 0.50);
create or replace macro p90(x) as quantile_cont(x, 0.90);
create or replace macro p95(x) as quantile_cont(x, 0.95);
create or replace macro p99(x) as quantile_cont(x, 0.99);

create or replace macro is_terminal(status) as
    status in ('completed', 'failed', 'cancelled', 'expired');

-- Share of terminal steps that ended in `wanted` (NULL when none is terminal).
create or replace macro status_rate(status, wanted) as
    count_if(status = wanted)::double / nullif(count_if(is_terminal(status)), 0);

-- The grouping sets every metric view uses, and how to name their rows.
create or replace macro dimension_name(grouping_id) as
    case grouping_id
        when 15 then 'all'
        when 7 then 'assistant_id'
        when 11 then 'model'
        when 13 then 'day'
        when 14 then 'type'
    end;

create or replace macro dimension_value(grouping_id, assistant_id, model, day, type) as
    case grouping_id
        when 7 then assistant_id
        when 11 then model
        when 13 then day
        when 14 then type
    end;

-- Latency of completed steps grouped by any expression over `steps`.
create or replace macro step_latency_by(dim) as table
    select dim as value, count(*) as n, avg(latency_s) as mean_s,
           p50(latency_s) as p50_s, p90(latency_s) as p90_s, p95(latency_s) as p95_s,
           p99(latency_s) as p99_s, max(latency_s) as max_s
    from steps
    where status = 'completed' and latency_s is not null
    group by all
    order by value;

-- Terminal outcomes grouped by any expression over `steps`.
create or replace macro failure_rate_by(dim) as table
    select dim as value,
           count_if(is_terminal(status))::bigint as terminal,
           count_if(status = 'completed')::bigint as completed,
           count_if(status = 'failed')::bigint as failed,
           count_if(status = 'cancelled')::bigint as cancelled,
           count_if(status = 'expired')::bigint as expired,
           status_rate(status, 'failed') as failure_rate,
           status_rate(status, 'cancelled') as cancelled_rate,
           status_rate(status, 'expired') as expired_rate
    from steps
    where is_terminal(status)
    group by all
    order by value;

-- Token sums grouped by any expression over `usage`.
create or replace macro token_usage_by(dim) as table
    select dim as value, count(*) as steps,
           sum(prompt_tokens)::bigint as prompt_tokens,
           sum(completion_tokens)::bigint as completion_tokens,
           sum(total_tokens)::bigint as total_tokens
    from usage
    group by all
    order by value;
