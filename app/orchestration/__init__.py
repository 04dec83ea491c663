"""Qt-free orchestration between the core and the surfaces: the threads that drive the job and
refund paths (job engine, refund relay) and the assembly of each path from a Runtime.

The CLI and the tray app both drive these; nothing here imports Qt, so a command-line run and
the tray behave the same (tests/test_architecture.py checks the rule)."""
