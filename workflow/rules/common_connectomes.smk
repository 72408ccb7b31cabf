# Python functions of the connectomes stage's rules (input functions, id lists, paths).
# Rules stay in workflow/rules/connectomes.smk; functions stay here (snakemake --lint).
