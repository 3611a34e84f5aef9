"""Reading an ms-swift run: its state from the files (state.py), where it lives (source.py: a host folder or a
Docker volume), GPU usage (gpus.py), `status` (status.py) and `plot` (plot.py)."""
