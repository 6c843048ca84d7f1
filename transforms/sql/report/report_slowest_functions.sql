-- report_slowest_functions: the 15 functions whose completed steps are slowest (p95).
create or replace view report_slowest_functions as
select function_name, step_p50_s, step_p95_s, calls
from tool_analytics
where function_name is not null and step_p95_s is not null
order by step_p95_s desc, function_name
limit 15;
