"""Run N no-op tasks through HyperQueue with W cores; print one JSON line with the result.

Run by bench/run.py with the Python of a virtual environment that has the `hyperqueue`
package from PyPI, which embeds the HyperQueue server and worker (the same Rust code as the
`hq` binary): `LocalCluster` starts a server and one worker with W cores in this process.
The N tasks are `true job0000000.conf` ..., the same commands as the fjd and xargs runs,
with no stdout or stderr files. The clock runs from the submission of the job of N tasks
until `wait_for_jobs` returns, after a one-task warm-up job.
"""
import json
import os
import sys
import time


def main():
    jobs, workers, server_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    import hyperqueue
    from hyperqueue import Job, LocalCluster
    from hyperqueue.cluster import WorkerConfig

    sys.stderr = open(os.devnull, "w")  # the client draws a tqdm progress bar there
    with LocalCluster(server_dir=server_dir, worker_config=WorkerConfig(cores=workers)) as cluster:
        client = cluster.client()
        warm_up = Job(server_dir)
        warm_up.program(["true"], stdout=None, stderr=None)
        client.wait_for_jobs([client.submit(warm_up)])
        job = Job(server_dir)
        for i in range(jobs):
            job.program(["true", "job%07d.conf" % i], stdout=None, stderr=None)
        started = time.monotonic()
        submitted = client.submit(job)
        ok = client.wait_for_jobs([submitted], raise_on_error=False)
        seconds = time.monotonic() - started
    version = getattr(hyperqueue, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as package_version
            version = package_version("hyperqueue")
        except Exception:  # noqa: BLE001 - only a label
            version = "unknown"
    print(json.dumps({"jobs": jobs, "workers": workers, "seconds": seconds,
                      "jobs_per_s": jobs / seconds if ok and seconds > 0 else None,
                      "all_succeeded": ok, "version": version}))


if __name__ == "__main__":
    main()
