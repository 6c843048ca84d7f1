-- report_over_time(unit): metrics_over_time(unit) over all steps, in bucket order (the
-- report's failure-rate and cost-over-time charts).
create or replace macro report_over_time(unit) as table
    select bucket, terminal, failure_rate, cancelled_rate, expired_rate, prompt_tokens,
           completion_tokens, cost_usd
    from metrics_over_time(unit)
    where dimension = 'all'
    order by bucket;
