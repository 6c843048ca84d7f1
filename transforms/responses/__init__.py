"""The Responses API and Conversations API side of steplens (issue 12).

`spec` holds the specs of valid Responses records (read by the one rulebook,
`transforms/rulebook.py`: what the careful checker demands and the fast path's structs
are generated from), `careful` and `fast` read records into the record frames beside the
Assistants ones (`careful` from parsed JSON, `fast` natively with msgspec, declining to
`careful`), as `transforms/assistants/` does for the Assistants side, and `tables`
turns those frames into the rows of the shared tables, with `api = 'responses'`.
docs/responses.md, "Responses API and Conversations" is the contract.
"""
