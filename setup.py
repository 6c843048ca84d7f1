"""The one compiled part of steplens: the field-coverage pass's line scanner.

Everything else is declared in pyproject.toml. The extension is optional: where it
cannot be built, steplens.transforms.coverage reads every line with orjson instead
(the same counts, about four times the CPU; `steplens.transforms.coverage.NATIVE`).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("steplens.transforms._scan", ["transforms/_scan.c"],
                             optional=True, extra_compile_args=["-O2"])])
