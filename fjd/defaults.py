"""The daemons' tunable defaults, in one place: the library uses them and `--help` shows them."""

DISPATCHER_INTERVAL = 0.05  # seconds between polls while there is work about
WORKER_INTERVAL = 0.05
HEARTBEAT_INTERVAL = 1.0  # seconds between a worker's beats
WORKER_TIMEOUT = 8.0  # a heartbeat unchanged this long (observer's clock) means dead
MAX_ATTEMPTS = 3  # runs of a job that its worker did not survive, before it fails
SETTLE = 1.0  # where leases cannot tell, a job file unchanged this long is complete
GRACE = 3.0  # seconds between SIGTERM and SIGKILL when a job is stopped
MAX_JOB_BYTES = 16 * 1024 * 1024  # larger job files fail unread
