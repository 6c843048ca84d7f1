-- dimension_value(grouping_id, ...): the value of a metric view row's dimension (NULL for
-- 'all'), for the same grouping sets as dimension_name.
create or replace macro dimension_value(grouping_id, assistant_id, model, day, type, api) as
    case grouping_id
        when 15 then assistant_id
        when 23 then model
        when 27 then day
        when 29 then type
        when 30 then api
    end;
