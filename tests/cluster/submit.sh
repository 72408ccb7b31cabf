#!/usr/bin/env bash
# Stand-in for sbatch/qsub in tests of the cluster-generic executor: start the job script
# as a fresh process (no shared Python state with the scheduler), detached, and print a job
# id. Snakemake then polls the job's status as it would on a real cluster.
set -euo pipefail
jobscript="${@: -1}"
nohup bash "$jobscript" > "${jobscript}.out" 2>&1 < /dev/null &
echo "$!"
