"""Code nobody on this project wrote, kept as its authors wrote it, run over
netcore.aio by the tests (test_aio_unmodified.py)."""
