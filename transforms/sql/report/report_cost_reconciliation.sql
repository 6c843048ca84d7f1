-- report_cost_reconciliation: the 15 latest (day, model) rows off the bill.
create or replace view report_cost_reconciliation as
select day, model, finding, requests_seen, requests_billed, request_gap,
       estimated_cost_usd, billed_cost_usd, cost_gap_usd, cost_gap_pct
from cost_reconciliation
where finding not in ('ok', 'no_billing_data')
order by day desc, model nulls last
limit 15;
