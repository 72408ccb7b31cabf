# Rules of the simulate stage.
