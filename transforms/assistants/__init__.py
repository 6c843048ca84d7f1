"""The Assistants API side of steplens, as `responses/` is the Responses one.

`spec` holds the specs of valid steps, runs and deltas (read by the one rulebook,
`transforms/rulebook.py`), `fast` decodes valid lines natively with msgspec structs
generated from them, and `careful` checks and extracts what the fast path declines;
`transforms/parse.py` dispatches every line of both APIs to them. docs/ingest.md,
"Input" is the contract.
"""
