-- report_time_unit: the bucket of the report's time charts, one row: 'hour' when the
-- steps span at most 3 days, 'day' up to 120 days, else 'week' (a readable number of
-- points); 'day' without steps.
create or replace view report_time_unit as
with span as (
    select max(created_at) - min(created_at) as span from steps
),

final as (
    select
        case
            when span is null then 'day'
            when span <= interval 3 day then 'hour'
            when span <= interval 120 day then 'day'
            else 'week'
        end as unit
    from span
)

select * from final;
