"""Package data shipped with steplens: `prices.csv`, OpenAI's list prices per model.

Installed as `steplens.data` and read with `importlib.resources`, so a plain
`pip install steplens` prices runs exactly as a checkout does.
"""
