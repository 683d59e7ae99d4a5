"""Docker-free local execution of the platform's ML steps (see README: Local mode)."""
