-- report_latency_sample: type and latency of up to 50,000 completed steps (a repeatable
-- reservoir sample), for the latency histogram.
create or replace view report_latency_sample as
select type, latency_s
from steps
where status = 'completed' and latency_s is not null
using sample reservoir(50000 rows) repeatable (7);
