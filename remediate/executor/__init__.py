"""Running a plan on one host: observe the containers, lock the host, journal every step, create and
swap, verify with probes, and undo from the journal (in-process failure, rollback, recover)."""
