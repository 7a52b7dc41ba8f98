"""Process tooling shared by `make run` (devstack), `make load` / `make bench` and the test engines."""
