"""Runner benchmarks: `python -m bench.publish` (speed, lag, memory) and `python -m bench.chaos` (faults, kills).

Both start the platform emulator and the runners as their own processes, schedule posts straight into a
fresh database, wait, then read the outcome from the database and the emulator, and print their figures
as one JSON object on the last line of stdout (progress goes to stderr). Speed is measured only here;
tests/test_bench.py runs both small and asserts correctness (no duplicates, nothing lost), never timing.
"""
