-- report_migration_chart: overall and up to 8 models, the two APIs' median wall time and
-- cost per run; models that ran on both first, then the busiest.
create or replace view report_migration_chart as
select coalesce(value, '(all models)') as label, assistants_p50_s, responses_p50_s,
       assistants_cost_per_run_usd, responses_cost_per_run_usd
from migration
where dimension = 'all' or (dimension = 'model' and value is not null)
order by dimension = 'all' desc, (assistants_runs > 0 and responses_runs > 0) desc,
         assistants_runs + responses_runs desc, value
limit 9;
