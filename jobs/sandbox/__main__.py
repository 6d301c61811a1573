"""`python -m jobs.sandbox`: the old command for the emulator, kept for one release; it runs `python -m sandbox`."""
from sandbox.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
