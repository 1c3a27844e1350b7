"""report/: turn model and decision data into text and JSON documents (no I/O)."""
