-- dimension_name(grouping_id): the name of a metric view row's dimension, for the grouping
-- sets every metric view uses: (), (assistant_id), (model), (day), (type).
create or replace macro dimension_name(grouping_id) as
    case grouping_id
        when 15 then 'all'
        when 7 then 'assistant_id'
        when 11 then 'model'
        when 13 then 'day'
        when 14 then 'type'
    end;
