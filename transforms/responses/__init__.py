"""The Responses API and Conversations API side of steplens (issue 12).

`spec` is the rulebook of valid Responses records (what the careful checker demands and
the fast path's structs are generated from), `decoder` reads records into the record
frames beside the Assistants ones (`careful` from parsed JSON, `fast` natively with
msgspec), and `tables` turns those frames into the rows of the shared tables, with
`api = 'responses'`. docs/responses.md, "Responses API and Conversations" is the contract.
"""
