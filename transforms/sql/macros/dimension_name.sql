-- dimension_name(grouping_id): the name of a metric view row's dimension, for the grouping
-- sets every metric view uses: (), (assistant_id), (model), (day), (type), (api), with
-- grouping_id = grouping(assistant_id, model, day, type, api).
create or replace macro dimension_name(grouping_id) as
    case grouping_id
        when 31 then 'all'
        when 15 then 'assistant_id'
        when 23 then 'model'
        when 27 then 'day'
        when 29 then 'type'
        when 30 then 'api'
    end;
