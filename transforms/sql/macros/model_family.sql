-- model_family(model): what a run's model name and the Usage API's share: lowercased, a
-- trailing snapshot date `-YYYY-MM-DD` or `-MMDD` removed (`gpt-4o-2024-08-06` -> `gpt-4o`,
-- `gpt-3.5-turbo-0125` -> `gpt-3.5-turbo`). The bill names the snapshot a request ran on,
-- a run the name it was given (often the alias). Known limit: aliases whose snapshot has
-- another stem (`gpt-4-turbo-preview` -> `gpt-4-0125-preview`) stay two families.
create or replace macro model_family(model) as
    regexp_replace(lower(model), '-(\d{4}-\d{2}-\d{2}|\d{4})$', '');
