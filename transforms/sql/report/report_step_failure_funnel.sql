-- report_step_failure_funnel: step_failure_funnel over all steps.
create or replace view report_step_failure_funnel as
select status, last_error_code, steps, share_of_steps, share_of_terminal
from step_failure_funnel
where dimension = 'all';
