# Python functions of the recordings stage's rules (input functions, id lists, paths).
# Rules stay in workflow/rules/recordings.smk; functions stay here (snakemake --lint).
