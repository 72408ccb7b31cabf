# Rules of the glmhmm stage.
