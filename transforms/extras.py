"""Fields of a Responses record the decoders' specs do not read, that the user pays for
or that say how a response was served (docs/fidelity.md, `schemas.RESPONSE_EXTRAS`).

Read from the record's JSON value, which both decoders hand to `response_row`, so the
fast and careful paths give the same values by construction. Like the configuration
(transforms/config.py), they are read and never checked: a value of the wrong type is
NULL in its column and never costs the record (a token count is an integer within
Int64, not a bool; a text is a string).
"""

from __future__ import annotations

from typing import Any

from steplens.transforms import schemas

I64 = 1 << 63

# column -> its path in the response object
PATHS: dict[str, tuple[str, ...]] = {
    "cache_write_tokens": ("usage", "input_tokens_details", "cache_write_tokens"),
    "web_search_requests": ("tool_usage", "web_search", "num_requests"),
    "image_gen_input_tokens": ("tool_usage", "image_gen", "input_tokens"),
    "image_gen_input_text_tokens": ("tool_usage", "image_gen", "input_tokens_details",
                                    "text_tokens"),
    "image_gen_input_image_tokens": ("tool_usage", "image_gen", "input_tokens_details",
                                     "image_tokens"),
    "image_gen_output_tokens": ("tool_usage", "image_gen", "output_tokens"),
    "image_gen_output_text_tokens": ("tool_usage", "image_gen", "output_tokens_details",
                                     "text_tokens"),
    "image_gen_output_image_tokens": ("tool_usage", "image_gen", "output_tokens_details",
                                      "image_tokens"),
    "image_gen_total_tokens": ("tool_usage", "image_gen", "total_tokens"),
    "billing_payer": ("billing", "payer"),
    "prompt_cache_retention": ("prompt_cache_retention",),
    "reasoning_context": ("reasoning", "context"),
    "reasoning_mode": ("reasoning", "mode"),
    "text_verbosity": ("text", "verbosity"),
    "safety_identifier": ("safety_identifier",),
}
assert tuple(PATHS) == tuple(schemas.RESPONSE_EXTRAS)


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if value.__class__ is not dict:
            return None
        value = value.get(key)
    return value


def _int(v: Any) -> int | None:
    return v if v.__class__ is int and -I64 <= v < I64 else None


def _str(v: Any) -> str | None:
    return v if v.__class__ is str else None


_KIND = {c: _int if t == schemas.Int else _str for c, t in schemas.RESPONSE_EXTRAS.items()}


def values(record: Any) -> tuple:
    """The `RESPONSE_EXTRAS` columns of a response object's JSON value, in order."""
    return tuple(_KIND[c](_at(record, p)) for c, p in PATHS.items())
