"""The compiled parts of steplens: the field-coverage pass's line scanner and the raw
SSE splitter.

Everything else is declared in pyproject.toml. The extensions are optional: where they
cannot be built, steplens.transforms.coverage reads every line with orjson instead
(the same counts, about four times the CPU; `steplens.transforms.coverage.NATIVE`) and
steplens.transforms.sse splits SSE text in Python (`steplens.transforms.sse.NATIVE`).
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("steplens.transforms._scan", ["transforms/_scan.c"], optional=True,
              extra_compile_args=["-O2"]),
    # raw SSE text split into events: transforms/sse.py reads it in Python otherwise
    Extension("steplens.transforms._sse", ["transforms/_sse.c"], optional=True,
              extra_compile_args=["-O2"]),
])
