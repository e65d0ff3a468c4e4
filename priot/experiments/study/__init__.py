"""The paper's comparison as a study (``m0sim run paper-table``): every registered method, its knobs tuned on
validation data of each seed and setting, over seeds, angles and widths, run as independent cells on Dask
distributed. Validation: 200 rotated digits per seed, so one digit is 0.5 pp of validation accuracy.

grid (which cells, presets and their time budget), tuning (the one tuning procedure), cells (one task, its own
result file), engine (Dask scheduling, resume), report (statistics, table.md, results.json), figures (PNG),
cli (the command).
"""
