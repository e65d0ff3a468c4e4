"""The paper's comparison as a study (``m0sim run paper-table``): every registered method, its step tuned on
validation data, over seeds, angles and widths, run as independent cells on Dask distributed.

grid (which cells), cells (one training run, its own result file), engine (Dask scheduling, resume),
report (statistics, table.md, results.json), figures (PNG), cli (the command).
"""
