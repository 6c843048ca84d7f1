-- report_migration: migration overall and per model, the busiest models first.
create or replace view report_migration as
select dimension, value, assistants_runs, responses_runs, assistants_p50_s, responses_p50_s,
       assistants_p95_s, responses_p95_s, assistants_failure_rate, responses_failure_rate,
       assistants_tokens_per_run, responses_tokens_per_run, assistants_cached_share,
       responses_cached_share, assistants_cost_per_run_usd, responses_cost_per_run_usd,
       assistants_unpriced_runs, responses_unpriced_runs
from migration
where dimension in ('all', 'model')
order by dimension, assistants_runs + responses_runs desc, value;
