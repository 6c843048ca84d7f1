-- report_bill_by_month: estimated (export, list prices) against billed (Costs API) USD
-- per month, over the days the Costs API export covers.
create or replace view report_bill_by_month as
with billed_days as (
    select date_trunc('month', day)::date as month, estimated_cost_usd, billed_cost_usd
    from cost_reconciliation
    where billed_cost_usd is not null
),

final as (
    select
        month,
        sum(estimated_cost_usd) as estimated_cost_usd,
        sum(billed_cost_usd) as billed_cost_usd
    from billed_days
    group by month
)

select * from final order by month;
