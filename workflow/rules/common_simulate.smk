# Python functions of the simulate stage's rules (input functions, id lists, paths).
# Rules stay in workflow/rules/simulate.smk; functions stay here (snakemake --lint).
