"""Quantize/convert with NVIDIA ModelOpt: the formats table, calibration, accuracy report, export checks,
worker.

Only `formats`, `versions`, `job`, `validate` and `runner` are imported by the step in the main process (no
torch); `worker` (with `calibration`, `accuracy`) runs in its own subprocess and imports
torch/transformers/modelopt.
"""
