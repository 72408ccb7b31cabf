# Rules of the recordings stage.
