-- report_thread_cost_sample: cost of up to 50,000 priced threads (a repeatable reservoir
-- sample), for the cost-per-thread histogram.
create or replace view report_thread_cost_sample as
select cost_usd
from threads
where cost_usd is not null
using sample reservoir(50000 rows) repeatable (7);
