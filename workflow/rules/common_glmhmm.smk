# Python functions of the glmhmm stage's rules (input functions, id lists, paths).
# Rules stay in workflow/rules/glmhmm.smk; functions stay here (snakemake --lint).
