-- dimension_name(grouping_id): the name of a metric view row's dimension, for the grouping
-- sets every metric view uses: (), (assistant_id), (model), (day), (type), (api), with
-- grouping_id = grouping(assistant_id, model, day, type, api) (by_dimension).
create or replace macro dimension_name(grouping_id) as
    grouped_dimension(grouping_id, ['assistant_id', 'model', 'day', 'type', 'api']);
