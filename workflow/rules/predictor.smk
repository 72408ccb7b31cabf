# Rules of the predictor stage.
