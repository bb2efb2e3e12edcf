"""`openrooms worker` (worker.py) and `openrooms scheduler` (scheduler.py)."""
