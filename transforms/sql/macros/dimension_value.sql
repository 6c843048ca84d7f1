-- dimension_value(grouping_id, ...): the value of a metric view row's dimension (NULL for
-- 'all'), for the same grouping sets as dimension_name.
create or replace macro dimension_value(grouping_id, assistant_id, model, day, type) as
    case grouping_id
        when 7 then assistant_id
        when 11 then model
        when 13 then day
        when 14 then type
    end;
