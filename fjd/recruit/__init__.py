"""Recruiting workers: as processes on this host (local), on other hosts over ssh (ssh), as
one Slurm batch job (slurm), and finding and stopping the workers of a queue (roster)."""
